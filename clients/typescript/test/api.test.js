// Against a real API: BASE_URL and TOKEN name it (tests/acceptance/test_typescript_client.py
// starts one and runs these). Every schedule made here has a workflowId unique to this run.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { before, describe, test } from "node:test";

import { SchedulerClient, SchedulerError } from "../dist/index.js";

const { BASE_URL, TOKEN } = process.env;
const RUN = randomUUID().slice(0, 8);
const client = new SchedulerClient({ baseUrl: BASE_URL ?? "", token: TOKEN ?? "" });
let openapi;

before(async () => {
  assert.ok(BASE_URL && TOKEN, "BASE_URL and TOKEN must be set");
  openapi = await (await fetch(`${BASE_URL}/schema/openapi.json`)).json();
});

function workflow(name) {
  return `ts-${RUN}-${name}`;
}

async function rejectsWith(promise, status) {
  const error = await promise.then(
    () => assert.fail(`expected a ${status}`),
    (e) => e,
  );
  assert.ok(error instanceof SchedulerError, `not a SchedulerError: ${error}`);
  assert.equal(error.status, status, error.message);
  return error;
}

describe("schedules", () => {
  test("create, get, update with If-Match, pause, resume, delete", async () => {
    const created = await client.createSchedule({
      workflowId: workflow("crud"),
      cronExpression: "0 8 * * *",
      timezone: "Europe/Paris",
      input: { report: "daily" },
    });
    assert.equal(created.workflowId, workflow("crud"));
    assert.equal(created.state, "active");
    assert.equal(created.nextRuns.length, 5);

    const got = await client.getSchedule(created.id);
    assert.deepEqual(got.input, { report: "daily" });

    const updated = await client.updateSchedule(
      created.id,
      { cronExpression: "30 9 * * 1-5" },
      { version: got.version },
    );
    assert.equal(updated.cronExpression, "30 9 * * 1-5");
    assert.equal(updated.version, got.version + 1);
    const stale = await rejectsWith(
      client.updateSchedule(created.id, { enabled: false }, { version: got.version }),
      412,
    );
    assert.equal(stale.code, "version_mismatch");

    const paused = await client.pause(created.id, { note: "maintenance" });
    assert.equal(paused.state, "paused");
    assert.equal(paused.pauseNote, "maintenance");
    const resumed = await client.resume(created.id, { version: paused.version });
    assert.equal(resumed.state, "active");

    await client.deleteSchedule(created.id, { version: resumed.version });
    const gone = await rejectsWith(client.getSchedule(created.id), 404);
    assert.equal(gone.code, "not_found");
  });

  test("a 422 names each field at fault", async () => {
    const error = await rejectsWith(
      client.createSchedule({ workflowId: workflow("bad"), cronExpression: "61 * * * *", maxAttempts: 0 }),
      422,
    );
    assert.equal(error.code, "validation_failed");
    const fields = error.errors.map((e) => e.field);
    assert.ok(fields.includes("maxAttempts"), JSON.stringify(error.errors));
    assert.ok(error.message.length > 0);
  });

  test("a 404 for an unknown schedule and an unknown execution", async () => {
    await rejectsWith(client.getSchedule(randomUUID()), 404);
    await rejectsWith(client.getExecution(randomUUID()), 404);
  });

  test("listSchedules walks every page", async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        (await client.createSchedule({ workflowId: workflow("list"), cronExpression: `${i} * * * *` })).id,
      );
    }
    const pages = [];
    for await (const page of client.listSchedules({ workflowId: workflow("list"), limit: 2 }).pages()) {
      pages.push(page.items.map((s) => s.id));
    }
    assert.deepEqual(
      pages.map((p) => p.length),
      [2, 2, 1],
    );
    const seen = [];
    for await (const schedule of client.listSchedules({ workflowId: workflow("list"), limit: 2 })) {
      seen.push(schedule.id);
    }
    assert.deepEqual([...seen].sort(), [...ids].sort());
    assert.deepEqual(seen, pages.flat());
    assert.equal(
      (await client.listSchedules({ workflowId: workflow("list"), state: "paused" }).toArray()).length,
      0,
    );
  });

  test("preview", async () => {
    const preview = await client.preview({
      cronExpression: "0 8 * * *",
      timezone: "UTC",
      after: new Date("2026-01-01T00:00:00Z"),
      count: 3,
    });
    assert.deepEqual(preview.nextRuns, [
      "2026-01-01T08:00:00Z",
      "2026-01-02T08:00:00Z",
      "2026-01-03T08:00:00Z",
    ]);
    assert.ok(preview.description.length > 0);
  });

  test("createSchedules stores a batch with a result per item", async (t) => {
    if (!openapi.paths["/api/schedules/batch"]) {
      t.skip("POST /api/schedules/batch is not in this API yet");
      return;
    }
    const good = { id: randomUUID(), workflowId: workflow("batch"), cronExpression: "0 * * * *" };
    const bad = { workflowId: workflow("batch"), cronExpression: "not cron" };
    const result = await client.createSchedules([good, bad]);
    assert.deepEqual(
      result.items.map((item) => [item.index, item.status]),
      [
        [0, "created"],
        [1, "error"],
      ],
    );
    assert.equal(result.items[0].id, good.id);
    assert.ok(
      result.items[1].errors.some((e) => e.field === "cronExpression"),
      JSON.stringify(result.items[1]),
    );
    assert.equal((await client.getSchedule(good.id)).workflowId, workflow("batch"));
    const again = await client.createSchedules([{ ...good, cronExpression: "30 * * * *" }]);
    assert.deepEqual([again.items[0].status, again.updated], ["updated", 1]);
  });
});

describe("runs", () => {
  test("trigger, getExecution, backfill, listExecutions over pages, stats", async () => {
    const schedule = await client.createSchedule({
      workflowId: workflow("runs"),
      cronExpression: "0 * * * *",
    });
    const run = await client.trigger(schedule.id);
    assert.equal(run.triggerId, schedule.id);
    assert.equal(run.trigger, "manual");
    const fetched = await client.getExecution(run.id);
    assert.equal(fetched.id, run.id);

    const backfill = await client.backfill(schedule.id, {
      start: new Date("2026-01-01T00:00:00Z"),
      end: "2026-01-01T04:00:00Z",
    });
    assert.deepEqual(backfill, { created: 4, existing: 0 });

    const pages = [];
    for await (const page of client.listExecutions(schedule.id, { limit: 2 }).pages()) pages.push(page.items);
    assert.deepEqual(
      pages.map((p) => p.length),
      [2, 2, 1],
    );
    const all = await client.listExecutions(schedule.id, { limit: 2 }).toArray();
    assert.equal(new Set(all.map((e) => e.id)).size, 5);
    assert.ok(all.some((e) => e.id === run.id));

    const stats = await client.stats();
    assert.ok(stats.total >= 5, JSON.stringify(stats));
    assert.ok(stats.schedules.active >= 1, JSON.stringify(stats));
  });

  test("a 429 carries Retry-After (the API under test allows a small burst of runs)", async () => {
    const schedule = await client.createSchedule({
      workflowId: workflow("limit"),
      cronExpression: "0 * * * *",
    });
    let error;
    for (let i = 0; i < 50 && !error; i++) {
      error = await client.trigger(schedule.id).then(
        () => undefined,
        (e) => e,
      );
    }
    assert.ok(error instanceof SchedulerError, `no 429 after 50 runs: ${error}`);
    assert.equal(error.status, 429);
    assert.ok(error.retryAfterSeconds >= 1, String(error.retryAfterSeconds));
  });
});
