import { createHmac, timingSafeEqual } from "node:crypto";

/** Request headers as Node (`req.headers`) or fetch (`request.headers`) give them. */
export type HeadersLike = Headers | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** The receiver's clock: unix seconds or a Date (default: now). */
  now?: number | Date;
  /** How far the `webhook-timestamp` may be from `now` (default 300 s): older requests are replays. */
  toleranceSeconds?: number;
}

const DEFAULT_TOLERANCE_SECONDS = 300;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Whether a delivery carries a valid Standard Webhooks (v1) signature made with `secret`:
 * the same rules as `verify_signature` in the scheduler (app/domain/delivery.py).
 *
 * - `body` must be the raw body as received (a string is taken as its UTF-8 bytes).
 * - A `webhook-timestamp` further than `toleranceSeconds` from `now` is rejected (replay).
 * - `webhook-signature` may hold several space-separated signatures (during a secret
 *   rotation); one valid `v1` is enough. The comparison takes constant time.
 * - A `whsec_` secret is the base64 of the key; one whose rest is not base64 throws an Error
 *   (a configuration mistake, not a bad request). Any other secret is used as its UTF-8 bytes.
 */
export function verifyDelivery(
  secret: string,
  headers: HeadersLike,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): boolean {
  const key = signingKey(secret);
  const messageId = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  if (!secret || !messageId || !/^[0-9]+$/.test(timestamp)) return false;
  if (timestamp.length > 12) return false; // no real unix time is that long
  const now = nowSeconds(options.now);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) {
    return false;
  }
  const expected = createHmac("sha256", key)
    .update(`${messageId}.${timestamp}.`)
    .update(typeof body === "string" ? Buffer.from(body, "utf8") : body)
    .digest("base64");
  const expectedBytes = Buffer.from(expected);
  for (const candidate of header(headers, "webhook-signature").split(/\s+/)) {
    const comma = candidate.indexOf(",");
    if (comma < 0 || candidate.slice(0, comma) !== "v1") continue;
    const given = Buffer.from(candidate.slice(comma + 1));
    // timingSafeEqual needs equal lengths; the length of a valid signature is public anyway.
    if (given.length === expectedBytes.length && timingSafeEqual(given, expectedBytes)) return true;
  }
  return false;
}

function signingKey(secret: string): Buffer {
  if (!secret.startsWith("whsec_")) return Buffer.from(secret, "utf8");
  const rest = secret.slice("whsec_".length);
  // Buffer.from(..., "base64") skips characters it does not know; a key must decode exactly.
  if (!STRICT_BASE64.test(rest)) {
    throw new Error(
      "verifyDelivery: the secret starts with 'whsec_' but the rest is not valid base64: " +
        "use a whsec_ secret exactly as generated, or a secret without that prefix",
    );
  }
  return Buffer.from(rest, "base64");
}

function header(headers: HeadersLike, name: string): string {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? "";
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    // A header sent twice: joined so that it can only fail (or offer both signatures).
    return Array.isArray(value) ? value.join(" ") : value;
  }
  return "";
}

function nowSeconds(now: number | Date | undefined): number {
  if (now instanceof Date) return Math.floor(now.getTime() / 1000);
  return now ?? Math.floor(Date.now() / 1000);
}
