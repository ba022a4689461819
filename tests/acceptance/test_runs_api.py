"""Run now, backfill and the history over HTTP, with a real worker and target (SPEC §4.5, §7)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.support.db import wait_until
from tests.support.target import RecordingTarget
from tests.support.workers import WorkerProcess


def test_trigger_backfill_and_history(
    client: httpx.Client,
    other_client: httpx.Client,
    target: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    start_worker()
    created = client.post(
        "/api/schedules",
        json={
            "workflowId": "report",
            "cronExpression": "0 6 * * *",
            "timezone": "Europe/Paris",
            "enabled": False,
            "input": {"region": "eu"},
        },
    )
    sid = created.json()["id"]

    manual = client.post(f"/api/schedules/{sid}/trigger")
    assert manual.status_code == 202, manual.text
    assert manual.json()["trigger"] == "manual" and manual.json()["status"] == "pending"
    execution_id = manual.json()["id"]
    done = wait_until(
        lambda: (
            (e := client.get(f"/api/executions/{execution_id}").json())["status"] == "succeeded"
            and e
        ),
        20,
        "the manual run to succeed",
    )
    assert done["attempts"] == 1 and done["httpStatus"] == 200 and done["workflowRunId"]
    assert target.requests("report")[0].json()["input"] == {"region": "eu"}
    assert target.requests("report")[0].json()["trigger"] == "manual"

    window = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-04T00:00:00Z"}
    first = client.post(f"/api/schedules/{sid}/backfill", json=window)
    assert first.status_code == 200, first.text
    assert first.json() == {"created": 3, "existing": 0}
    again = client.post(
        f"/api/schedules/{sid}/backfill",
        json={"start": "2026-01-01T00:00:00Z", "end": "2026-01-05T00:00:00Z"},
    )
    assert again.json() == {"created": 1, "existing": 3}
    too_many = client.post(
        f"/api/schedules/{sid}/backfill",
        json={"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
    )
    assert too_many.status_code == 422 and "1000" in too_many.json()["message"]
    backwards = client.post(
        f"/api/schedules/{sid}/backfill",
        json={"start": "2026-01-05T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
    )
    assert backwards.status_code == 422

    wait_until(
        lambda: (
            len(
                client.get(
                    f"/api/schedules/{sid}/executions", params={"status": "succeeded"}
                ).json()["items"]
            )
            == 5
        ),
        30,
        "the backfilled runs to succeed",
    )
    slots = [
        r.json()["scheduledAt"]
        for r in target.requests("report")
        if r.json()["trigger"] == "backfill"
    ]
    # 06:00 in Paris is 05:00 UTC in winter.
    assert sorted(slots) == [f"2026-01-0{d}T05:00:00Z" for d in (1, 2, 3, 4)]

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"/api/schedules/{sid}/executions", params=params).json()
        seen += [item["scheduledAt"] for item in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert len(seen) == 5 and seen == sorted(seen, reverse=True), "newest first"

    assert other_client.post(f"/api/schedules/{sid}/trigger").status_code == 404
    assert other_client.get(f"/api/executions/{execution_id}").status_code == 404
    assert other_client.get(f"/api/schedules/{sid}/executions").status_code == 404
    assert (
        client.get("/api/schedules/" + sid + "/executions", params={"status": "bogus"}).status_code
        == 422
    )
