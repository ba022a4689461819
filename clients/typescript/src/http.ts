import { SchedulerError } from "./errors.js";

/** How requests are sent; every field has a default. */
export interface TransportOptions {
  /** The `fetch` to use (default: the global one, Node ≥ 20 and browsers have it). */
  fetch?: typeof fetch;
  /** Give up on a request after this long (default 30,000 ms): fetch rejects with a TimeoutError. */
  timeoutMs?: number;
}

export interface Call {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  url: string;
  token: string;
  body?: unknown;
  headers?: Record<string, string>;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Send one JSON request with a bearer token and return the parsed answer (undefined for an
 * empty one, such as 204). Any non-2xx answer rejects with a `SchedulerError`.
 */
export async function call<T>(call: Call, options: TransportOptions = {}): Promise<T> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const headers: Record<string, string> = {
    Accept: "application/json",
    Authorization: `Bearer ${call.token}`,
    ...call.headers,
  };
  let body: string | undefined;
  if (call.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(call.body);
  }
  const response = await doFetch(call.url, {
    method: call.method,
    headers,
    body,
    redirect: "manual", // a redirect would resend the token elsewhere
    signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  });
  if (!response.ok) throw await SchedulerError.fromResponse(response);
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}
