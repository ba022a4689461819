import assert from "node:assert/strict";
import { test } from "node:test";

import { SchedulerError, parseRetryAfter } from "../dist/index.js";

test("Retry-After in seconds or as an HTTP date", () => {
  const now = new Date("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("5", now), 5);
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now), 30);
  assert.equal(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now), 0);
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});

test("an answer that is not the API's error shape keeps its status and some text", async () => {
  const error = await SchedulerError.fromResponse(new Response("<html>bad gateway</html>", { status: 502 }));
  assert.equal(error.status, 502);
  assert.equal(error.code, "http_502");
  assert.match(error.message, /bad gateway/);
  assert.deepEqual(error.errors, []);
});

test("the API's error shape", async () => {
  const body = { error: "quota_exceeded", message: "too many", errors: [{ field: null, message: "x" }] };
  const error = await SchedulerError.fromResponse(
    new Response(JSON.stringify(body), { status: 429, headers: { "Retry-After": "7" } }),
  );
  assert.equal(error.code, "quota_exceeded");
  assert.equal(error.retryAfterSeconds, 7);
  assert.deepEqual(error.errors, body.errors);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "SchedulerError");
});
