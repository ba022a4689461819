// reportResult and heartbeat against a real accepted execution: CALLBACK (JSON: url, token,
// executionId) is passed by the pytest once the API has the result endpoints.
import assert from "node:assert/strict";
import { test } from "node:test";

import { SchedulerClient, SchedulerError, heartbeat, heartbeatUrl, reportResult } from "../dist/index.js";

const callback = process.env.CALLBACK ? JSON.parse(process.env.CALLBACK) : null;

test("heartbeatUrl replaces the final /result", () => {
  assert.equal(
    heartbeatUrl("http://127.0.0.1:8000/api/executions/0b8f/result"),
    "http://127.0.0.1:8000/api/executions/0b8f/heartbeat",
  );
  assert.throws(() => heartbeatUrl("http://127.0.0.1:8000/api/executions/0b8f"), /does not end in \/result/);
});

test(
  "heartbeat, then reportResult records the outcome",
  { skip: !callback && "no CALLBACK: the API has no result endpoints yet" },
  async () => {
    const wrong = await reportResult(callback.url, "not-the-token", { status: "succeeded" }).then(
      () => assert.fail("a wrong callback token was accepted"),
      (e) => e,
    );
    assert.ok(wrong instanceof SchedulerError);
    assert.ok(wrong.status >= 400 && wrong.status < 500, String(wrong.status));

    const alive = await heartbeat(callback.url, callback.token);
    assert.equal(alive.status, "accepted");
    const execution = await reportResult(callback.url, callback.token, {
      status: "succeeded",
      output: { rows: 3 },
    });
    assert.equal(execution.id, callback.executionId);
    assert.equal(execution.status, "succeeded");

    const client = new SchedulerClient({ baseUrl: process.env.BASE_URL, token: process.env.TOKEN });
    assert.equal((await client.getExecution(callback.executionId)).status, "succeeded");
  },
);
