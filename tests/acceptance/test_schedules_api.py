"""Schedules over real HTTP: create, read (5 next runs), pause, resume, patch, delete, isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

EVERY_5_MIN = {"workflowId": "wf-report", "cronExpression": "*/5 * * * *", "timezone": "UTC"}


def _instant(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


def test_lifecycle(client: httpx.Client, other_client: httpx.Client) -> None:
    created = client.post("/api/schedules", json={**EVERY_5_MIN, "input": {"a": 1}})
    assert created.status_code == 201, created.text
    body = created.json()
    sid = body["id"]
    assert body["state"] == "active"
    assert body["description"] == "Every 5 minutes"
    assert body["version"] == 1
    assert created.headers["etag"] == '"1"'
    assert body["input"] == {"a": 1}
    assert body["overlapPolicy"] == "skip" and body["misfirePolicy"] == "fire_once"

    got = client.get(f"/api/schedules/{sid}")
    assert got.status_code == 200
    runs = [_instant(r) for r in got.json()["nextRuns"]]
    assert len(runs) == 5
    assert all(r.minute % 5 == 0 and r.second == 0 for r in runs)
    assert all(b - a == timedelta(minutes=5) for a, b in zip(runs, runs[1:], strict=False))
    assert runs[0] == _instant(got.json()["nextRunAt"])
    assert runs[0] > datetime.now(UTC) - timedelta(seconds=1)

    # Another tenant sees nothing of it.
    assert other_client.get(f"/api/schedules/{sid}").status_code == 404
    assert other_client.get("/api/schedules").json()["items"] == []
    assert other_client.post(f"/api/schedules/{sid}/pause", json={}).status_code == 404
    assert other_client.delete(f"/api/schedules/{sid}").status_code == 404

    paused = client.post(f"/api/schedules/{sid}/pause", json={"note": "maintenance window"})
    assert paused.status_code == 200, paused.text
    assert paused.json()["state"] == "paused"
    assert paused.json()["enabled"] is False
    assert paused.json()["pauseNote"] == "maintenance window"
    assert paused.json()["nextRunAt"] is None and paused.json()["nextRuns"] == []
    assert client.get(f"/api/schedules/{sid}").json()["pauseNote"] == "maintenance window"

    before_resume = datetime.now(UTC)
    resumed = client.post(f"/api/schedules/{sid}/resume", json={"note": "back"})
    assert resumed.status_code == 200
    assert resumed.json()["state"] == "active"
    next_run = _instant(resumed.json()["nextRunAt"])
    # Computed from the resume instant: the first 5-minute boundary after it.
    assert before_resume < next_run <= before_resume + timedelta(minutes=5)

    patched = client.patch(
        f"/api/schedules/{sid}",
        json={"cronExpression": "0 9 * * 1-5"},
        headers={"If-Match": resumed.headers["etag"]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "At 09:00, Monday through Friday"
    nine = _instant(patched.json()["nextRunAt"])
    assert (nine.hour, nine.minute) == (9, 0) and nine.weekday() < 5

    # A stale version is refused and changes nothing.
    stale = client.patch(
        f"/api/schedules/{sid}", json={"workflowId": "other"}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert "version" in stale.json()["message"]
    assert client.get(f"/api/schedules/{sid}").json()["workflowId"] == "wf-report"

    assert client.delete(f"/api/schedules/{sid}").status_code == 204
    assert client.get(f"/api/schedules/{sid}").status_code == 404


def test_list_is_paginated_and_filtered(client: httpx.Client) -> None:
    for n in range(7):
        workflow = "wf-a" if n % 2 else "wf-b"
        assert (
            client.post("/api/schedules", json={**EVERY_5_MIN, "workflowId": workflow}).status_code
            == 201
        )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/schedules", params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7
    only_a = client.get("/api/schedules", params={"workflowId": "wf-a"}).json()["items"]
    assert len(only_a) == 3 and {i["workflowId"] for i in only_a} == {"wf-a"}
    assert client.get("/api/schedules", params={"state": "paused"}).json()["items"] == []
    assert client.get("/api/schedules", params={"limit": 501}).status_code == 422
    assert client.get("/api/schedules", params={"cursor": "garbage!"}).status_code == 422


def test_client_chosen_id_and_register_upsert(
    client: httpx.Client, other_client: httpx.Client
) -> None:
    trigger_id = "6f1c1a52-8a8e-4a57-9f43-3d1b2f0c7e11"
    body = {
        "triggerId": trigger_id,
        "workflowId": "wf-1",
        "cronExpression": "0 * * * *",
        "timezone": "Europe/Berlin",
        "enabled": True,
    }
    first = client.post("/api/scheduler/register", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["success"] is True and first.json()["created"] is True
    again = client.post("/api/scheduler/register", json={**body, "cronExpression": "30 * * * *"})
    assert again.status_code == 200
    assert again.json()["schedule"]["cronExpression"] == "30 * * * *"
    assert client.get(f"/api/schedules/{trigger_id}").json()["timezone"] == "Europe/Berlin"
    disabled = client.post("/api/scheduler/register", json={**body, "enabled": False})
    assert disabled.json()["schedule"]["state"] == "paused"
    # The id belongs to another tenant: refused without revealing anything of it.
    taken = other_client.post("/api/scheduler/register", json=body)
    assert taken.status_code == 409
    assert "wf-1" not in taken.text
    dup = client.post("/api/schedules", json={**EVERY_5_MIN, "id": trigger_id})
    assert dup.status_code == 409


def test_preview_and_description(client: httpx.Client) -> None:
    answer = client.post(
        "/api/schedules/preview",
        json={
            "cronExpression": "30 2 * * *",
            "timezone": "America/New_York",
            "after": "2026-03-07T12:00:00Z",
            "count": 3,
        },
    )
    assert answer.status_code == 200, answer.text
    # 2026-03-08 is the spring-forward day: 02:30 does not exist and fires at 03:00 EDT.
    assert answer.json()["nextRuns"] == [
        "2026-03-08T07:00:00Z",
        "2026-03-09T06:30:00Z",
        "2026-03-10T06:30:00Z",
    ]
    assert answer.json()["description"]


def test_paused_create_and_ended_schedules(client: httpx.Client) -> None:
    paused = client.post("/api/schedules", json={**EVERY_5_MIN, "enabled": False})
    assert paused.json()["state"] == "paused" and paused.json()["nextRunAt"] is None
    past_end = client.post("/api/schedules", json={**EVERY_5_MIN, "endAt": "2020-01-01T00:00:00Z"})
    assert past_end.status_code == 201
    assert past_end.json()["state"] == "ended"
    resume = client.post(f"/api/schedules/{past_end.json()['id']}/resume", json={})
    assert resume.status_code == 409
    no_runs = client.post("/api/schedules", json={**EVERY_5_MIN, "remainingRuns": 0})
    assert no_runs.json()["state"] == "ended"
    two = client.post("/api/schedules", json={**EVERY_5_MIN, "remainingRuns": 2})
    assert len(client.get(f"/api/schedules/{two.json()['id']}").json()["nextRuns"]) == 2
    start = "2030-01-01T00:00:00Z"
    later = client.post("/api/schedules", json={**EVERY_5_MIN, "startAt": start})
    assert later.json()["nextRunAt"] == start
