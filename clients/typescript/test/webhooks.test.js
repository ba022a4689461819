// verifyDelivery against signatures made by the scheduler's own Python code: the pytest that
// runs this passes VECTORS, each with the answer of Python's verify_signature for it.
import assert from "node:assert/strict";
import { test } from "node:test";

import { verifyDelivery } from "../dist/index.js";

const vectors = JSON.parse(process.env.VECTORS ?? "[]");

test("there are vectors to check", () => {
  assert.ok(vectors.length >= 8, "VECTORS must be set by the pytest");
});

for (const vector of vectors) {
  test(`verifyDelivery agrees with verify_signature: ${vector.name}`, () => {
    const body = Buffer.from(vector.body, "base64");
    const options = { now: vector.now, toleranceSeconds: vector.tolerance };
    if (vector.expected === "raises") {
      assert.throws(() => verifyDelivery(vector.secret, vector.headers, body, options), /whsec_/);
      return;
    }
    assert.equal(verifyDelivery(vector.secret, vector.headers, body, options), vector.expected);
    const arrayBuffer = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength);
    assert.equal(verifyDelivery(vector.secret, vector.headers, arrayBuffer, options), vector.expected);
    // The same through fetch's Headers (which joins names spelled twice: a case a plain object
    // has and a request does not), a string body and a Date clock.
    const names = Object.keys(vector.headers).map((name) => name.toLowerCase());
    if (new Set(names).size < names.length) return;
    const viaFetch = verifyDelivery(vector.secret, new Headers(vector.headers), body.toString("utf8"), {
      now: new Date(vector.now * 1000),
      toleranceSeconds: vector.tolerance,
    });
    assert.equal(viaFetch, vector.expected);
  });
}
