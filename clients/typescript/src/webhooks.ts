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
 * - `body` must be the raw body as received (`await request.text()` or `.arrayBuffer()` in a
 *   fetch handler; a string is taken as its UTF-8 bytes), not JSON parsed and serialized again.
 * - A `webhook-timestamp` further than `toleranceSeconds` from `now` is rejected (replay).
 * - `webhook-signature` may hold several space-separated signatures (during a secret
 *   rotation); one valid `v1` is enough. The comparison takes constant time.
 * - A `whsec_` secret is the base64 of the key; one whose rest is not base64 throws an Error
 *   (a configuration mistake, not a bad request) once a request gets as far as the signature.
 *   Any other secret is used as its UTF-8 bytes.
 */
export function verifyDelivery(
  secret: string,
  headers: HeadersLike,
  body: string | Uint8Array | ArrayBuffer,
  options: VerifyOptions = {},
): boolean {
  const messageId = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  if (!secret || !messageId || !/^[0-9]+$/.test(timestamp)) return false;
  if (timestamp.length > 12) return false; // no real unix time is that long
  const now = nowSeconds(options.now);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) {
    return false;
  }
  // The key is read only now, as verify_signature does: a malformed `whsec_` secret throws for
  // a request that would otherwise be checked, and is not reached for one refused before.
  const expected = createHmac("sha256", signingKey(secret))
    .update(`${messageId}.${timestamp}.`)
    .update(bytes(body))
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

function bytes(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === "string") return Buffer.from(body, "utf8");
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

function header(headers: HeadersLike, name: string): string {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? "";
  let found = "";
  // Every spelling of the name is looked at and the last one wins, as in verify_signature.
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    // A header sent twice: joined so that it can only fail (or offer both signatures).
    found = Array.isArray(value) ? value.join(" ") : value;
  }
  return found;
}

function nowSeconds(now: number | Date | undefined): number {
  if (now instanceof Date) return Math.floor(now.getTime() / 1000);
  return now ?? Math.floor(Date.now() / 1000);
}
