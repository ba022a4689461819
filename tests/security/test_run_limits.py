"""Limits on what one request may ask of the engine: no future backfill (L3), one
Idempotency-Key per manual run (L5), no near-zero timeouts or backoffs (L9)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.domain.instants import format_instant
from app.domain.webhook import idempotency_key
from app.errors import ValidationFailed
from app.services.executions import ExecutionService
from app.services.schedules import ScheduleService
from db.types import Conn

T = datetime(2026, 11, 2, 10, 0, 30, 250_000, tzinfo=UTC)


class Ticks:
    """A clock that answers the instants it was given, in order."""

    def __init__(self, *instants: datetime) -> None:
        self._instants: Iterator[datetime] = iter(instants)
        self.last = instants[0]

    def __call__(self) -> datetime:
        self.last = next(self._instants, self.last)
        return self.last


async def _schedule_id(conn: Conn) -> object:
    schedule = await ScheduleService(conn, "acme", clock=lambda: T).create(
        {"workflow_id": "wf", "cron_expression": "* * * * * *", "enabled": False}
    )
    return schedule.id


@pytest.mark.parametrize(
    "instants",
    [
        (T + timedelta(microseconds=100), T + timedelta(microseconds=600)),  # one ms, two µs
        (T, T),  # the very same instant (two API processes, one database clock tick)
    ],
    ids=["same-millisecond", "same-instant"],
)
async def test_two_manual_runs_in_one_millisecond_have_two_keys(
    conn: Conn, instants: tuple[datetime, datetime]
) -> None:
    """L5: the key is `<triggerId>:<scheduledAt>` to the millisecond, so the run's scheduled_at
    is cut to the millisecond too, and a second run in that millisecond takes the next one."""
    sid = await _schedule_id(conn)
    runs = ExecutionService(conn, "acme", clock=Ticks(*instants))
    first, second = await runs.trigger(sid), await runs.trigger(sid)  # type: ignore[arg-type]
    assert first.scheduled_at == T and second.scheduled_at == T + timedelta(milliseconds=1)
    keys = {idempotency_key(r.trigger_id, r.scheduled_at) for r in (first, second)}
    assert len(keys) == 2
    for run in (first, second):
        # The key and the stored instant agree to the microsecond.
        assert format_instant(run.scheduled_at).endswith(
            f".{run.scheduled_at.microsecond // 1000:03d}Z"
        )
        assert run.scheduled_at.microsecond % 1000 == 0


async def test_a_backfill_may_not_reach_into_the_future(conn: Conn) -> None:
    """L3: a future slot run now would take its slot key and drop its real fire later."""
    sid = await _schedule_id(conn)
    runs = ExecutionService(conn, "acme", clock=lambda: T)
    with pytest.raises(ValidationFailed) as refused:
        await runs.backfill(sid, T - timedelta(seconds=5), T + timedelta(seconds=5))  # type: ignore[arg-type]
    assert refused.value.field == "end" and "future" in refused.value.message
    done = await runs.backfill(sid, T - timedelta(seconds=5), T)  # type: ignore[arg-type]
    assert done.created == 5


def test_future_backfill_over_http_names_end(client: httpx.Client) -> None:
    sid = client.post(
        "/api/schedules",
        json={"workflowId": "wf", "cronExpression": "* * * * *", "enabled": False},
    ).json()["id"]
    soon = datetime.now(UTC) + timedelta(minutes=10)
    answer = client.post(
        f"/api/schedules/{sid}/backfill",
        json={"start": "2026-01-01T00:00:00Z", "end": soon.isoformat()},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "end"
    assert "future" in answer.json()["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("timeoutSeconds", 0.001), ("timeoutSeconds", 0.5), ("retryBackoffSeconds", 0)],
)
def test_near_zero_timeouts_and_backoffs_are_refused(
    client: httpx.Client, field: str, value: float
) -> None:
    """L9: an attempt that times out before any target can answer, retried at once, turns one
    slot into `maxAttempts` real deliveries."""
    body = {"workflowId": "wf", "cronExpression": "* * * * *", "enabled": False}
    created = client.post("/api/schedules", json={**body, field: value})
    assert created.status_code == 422, created.text
    assert created.json()["errors"][0]["field"] == field
    sid = client.post("/api/schedules", json=body).json()["id"]
    patched = client.patch(f"/api/schedules/{sid}", json={field: value})
    assert patched.status_code == 422 and patched.json()["errors"][0]["field"] == field
    fine = client.patch(f"/api/schedules/{sid}", json={field: 1})
    assert fine.status_code == 200, fine.text
    defaults = client.get(f"/api/schedules/{sid}").json()
    assert defaults["timeoutSeconds"] >= 1 and defaults["retryBackoffSeconds"] >= 1
