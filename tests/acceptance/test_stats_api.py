"""Statistics, the compatibility history and /metrics over HTTP after real runs (SPEC §6, §7)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.support.db import wait_until
from tests.support.target import RecordingTarget, Response
from tests.support.workers import WorkerProcess


def test_stats_history_and_metrics(
    client: httpx.Client,
    anonymous: httpx.Client,
    other_client: httpx.Client,
    target: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    target.script("mixed", [Response(200), Response(400), Response(200), Response(200)])
    start_worker()
    sid = client.post(
        "/api/schedules",
        json={
            "workflowId": "mixed",
            "cronExpression": "* * * * * *",
            "remainingRuns": 4,
            "overlapPolicy": "allow_all",
        },
    ).json()["id"]

    detail = wait_until(
        lambda: (
            (d := client.get(f"/api/schedules/{sid}").json())["stats"]["total"] == 4
            and d["stats"]["succeeded"] + d["stats"]["failed"] == 4
            and d
        ),
        30,
        "four finished runs in the statistics",
    )
    stats = detail["stats"]
    assert stats["succeeded"] == 3 and stats["failed"] == 1
    assert stats["successRate"] == 75.0
    assert stats["avgDurationMs"] is not None and stats["p95DurationMs"] is not None
    assert stats["lastStatus"] in ("succeeded", "failed") and stats["lastRunAt"].endswith("Z")
    assert detail["state"] == "ended" and stats["nextRunAt"] is None
    assert detail["lastExecution"]["triggerId"] == sid

    listed = client.get("/api/schedules").json()["items"]
    assert listed[0]["stats"] == {"total": 4, "successRate": 75.0}

    history = client.get("/api/scheduler/history", params={"triggerId": sid, "limit": 2})
    assert history.status_code == 200, history.text
    body = history.json()
    assert len(body["executions"]) == 2
    assert body["stats"]["total"] == 4 and body["stats"]["successRate"] == 75.0
    assert "avgDurationMs" in body["stats"]
    assert other_client.get("/api/scheduler/history", params={"triggerId": sid}).status_code == 404

    overall = client.get("/api/stats").json()
    assert overall["total"] == 4 and overall["schedules"]["ended"] == 1
    assert other_client.get("/api/stats").json()["total"] == 0

    def metrics() -> dict[str, float]:
        text = anonymous.get("/metrics").text
        return {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line and not line.startswith("#")
        }

    found = wait_until(
        lambda: (
            (m := metrics()).get('scheduler_executions_finished_total{status="succeeded"}') == 3
            and m
        ),
        15,
        "the folded lifetime counters",
    )
    assert found['scheduler_executions_finished_total{status="failed"}'] == 1
    assert found["scheduler_fire_lag_seconds_count"] == 4
    assert found['scheduler_fire_lag_seconds_bucket{le="+Inf"}'] == 4
    assert found["scheduler_run_duration_seconds_count"] == 4
    assert found["scheduler_due_backlog"] == 0
    assert found['scheduler_schedules{state="ended"}'] == 1
    assert anonymous.get("/ready").json()["status"] == "ready"
