import type { ErrorDetail } from "./types.js";

/**
 * A non-2xx answer of the API. `code` is the API's stable error code (`validation_failed`,
 * `not_found`, `version_mismatch`, `quota_exceeded`, ...), `errors` names each field at fault,
 * and `retryAfterSeconds` is the answer's `Retry-After` (429 and 503), else undefined.
 * Network failures and timeouts are not wrapped: they reject with fetch's own error.
 */
export class SchedulerError extends Error {
  override readonly name = "SchedulerError";
  readonly status: number;
  readonly code: string;
  readonly errors: ErrorDetail[];
  readonly retryAfterSeconds: number | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    errors: ErrorDetail[] = [],
    retryAfterSeconds?: number,
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.errors = errors;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** The error of an answer that is not 2xx; the body is read here. */
  static async fromResponse(response: Response, now: Date = new Date()): Promise<SchedulerError> {
    const text = await response.text();
    const retryAfter = parseRetryAfter(response.headers.get("retry-after"), now);
    const body = parseErrorBody(text);
    if (body) {
      return new SchedulerError(response.status, body.error, body.message, body.errors, retryAfter);
    }
    // Not the API's error shape (a proxy in between, say): keep a bounded part of the text.
    const message = `HTTP ${response.status}: ${text.slice(0, 500) || response.statusText}`;
    return new SchedulerError(response.status, `http_${response.status}`, message, [], retryAfter);
  }
}

function parseErrorBody(text: string): { error: string; message: string; errors: ErrorDetail[] } | null {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof body !== "object" || body === null) return null;
  const { error, message, errors } = body as Record<string, unknown>;
  if (typeof error !== "string" || typeof message !== "string") return null;
  const details = Array.isArray(errors)
    ? errors.filter(
        (e): e is ErrorDetail => typeof e === "object" && e !== null && typeof e.message === "string",
      )
    : [];
  return { error, message, errors: details };
}

/**
 * Seconds to wait from a `Retry-After` value: delta-seconds or an HTTP-date (a past date is 0).
 * Undefined when absent or unusable.
 */
export function parseRetryAfter(value: string | null, now: Date = new Date()): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const when = Date.parse(text);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, (when - now.getTime()) / 1000);
}
