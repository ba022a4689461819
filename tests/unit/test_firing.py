"""One dispatcher pass, decided purely: on time, misfires by policy, overlap, remaining runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from app.domain.firing import MAX_CATCHUP_FIRES, MAX_MISSED_ROWS, plan_pass
from app.domain.schedule import Schedule, plan

ID = UUID("6f1c1a52-8a8e-4a57-9f43-3d1b2f0c7e11")
T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def schedule(cron: str = "* * * * *", **fields: object) -> Schedule:
    """A schedule whose next slot is the first one at or after T0."""
    base = Schedule(id=ID, tenant="t", workflow_id="wf", cron_expression=cron, **fields)  # type: ignore[arg-type]
    planned = plan(base, T0 - timedelta(microseconds=1))
    return replace(base, next_run_at=planned.next_run_at, next_fire_at=planned.next_fire_at)


def statuses(result: object) -> list[tuple[str, str, str]]:
    return [(r.scheduled_at.strftime("%H:%M"), r.status, r.trigger) for r in result.rows]  # type: ignore[attr-defined]


def test_on_time_slot_fires_and_advances() -> None:
    result = plan_pass(schedule(), T0 + timedelta(milliseconds=3), active_runs=0, buffered_runs=0)
    assert statuses(result) == [("12:00", "pending", "schedule")]
    assert result.next.next_run_at == T0 + timedelta(minutes=1)
    assert result.missed_uncounted == 0


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            "skip",
            [
                ("12:00", "missed", "schedule"),
                ("12:01", "missed", "schedule"),
                ("12:02", "missed", "schedule"),
            ],
        ),
        (
            "fire_once",
            [
                ("12:00", "missed", "schedule"),
                ("12:01", "missed", "schedule"),
                ("12:02", "pending", "catchup"),
            ],
        ),
        (
            "fire_all",
            [
                ("12:00", "pending", "catchup"),
                ("12:01", "skipped", "catchup"),
                ("12:02", "skipped", "catchup"),
            ],
        ),
    ],
)
def test_misfire_policies_after_a_stall(policy: str, expected: list[tuple[str, str, str]]) -> None:
    # Workers were down from 12:00 to 12:02:40; grace is 30 s, so 12:00–12:02 misfired and no
    # slot is on time (12:02 is 40 s late; 12:03 is not due yet).
    now = T0 + timedelta(minutes=2, seconds=40)
    result = plan_pass(
        schedule(misfire_policy=policy, misfire_grace_seconds=30),
        now,
        active_runs=0,
        buffered_runs=0,
    )
    assert statuses(result) == expected
    assert result.next.next_run_at == T0 + timedelta(minutes=3)


def test_fire_once_does_not_catch_up_when_a_slot_is_on_time() -> None:
    now = T0 + timedelta(minutes=3, seconds=10)  # 12:03 is 10 s late: on time
    result = plan_pass(schedule(), now, active_runs=0, buffered_runs=0)
    assert statuses(result) == [
        ("12:00", "missed", "schedule"),
        ("12:01", "missed", "schedule"),
        ("12:02", "missed", "schedule"),
        ("12:03", "pending", "schedule"),
    ]


def test_fire_all_with_allow_all_fires_oldest_first_capped() -> None:
    now = T0 + timedelta(hours=3)
    result = plan_pass(
        schedule(misfire_policy="fire_all", overlap_policy="allow_all"),
        now,
        active_runs=0,
        buffered_runs=0,
    )
    fired = [r for r in result.rows if r.status == "pending"]
    # 14:59 and 15:00 are on time (at most 60 s late) and fire; 12:00–14:58 are 179 misfired
    # slots, of which the oldest 100 fire and 79 are missed.
    assert len(fired) == MAX_CATCHUP_FIRES + 2
    assert fired[0].scheduled_at == T0 and fired[-1].scheduled_at == now
    assert sum(r.status == "missed" for r in result.rows) == 79


def test_catchup_window_bounds_what_may_fire() -> None:
    now = T0 + timedelta(minutes=30)
    result = plan_pass(
        schedule(misfire_policy="fire_all", overlap_policy="allow_all", catchup_window_seconds=300),
        now,
        active_runs=0,
        buffered_runs=0,
    )
    fired = [r.scheduled_at for r in result.rows if r.status == "pending"]
    assert fired[0] == now - timedelta(minutes=5)
    assert fired[-1] == now


def test_missed_rows_are_capped_and_the_rest_counted() -> None:
    every_second = schedule("* * * * * *", misfire_policy="skip")
    now = T0 + timedelta(days=7)
    result = plan_pass(every_second, now, active_runs=0, buffered_runs=0)
    missed = [r for r in result.rows if r.status == "missed"]
    assert len(missed) == MAX_MISSED_ROWS
    assert missed[0].scheduled_at == T0
    on_time = [r for r in result.rows if r.status == "pending"]
    assert (
        len(missed)
        + result.missed_uncounted
        + len(on_time)
        + sum(r.status == "skipped" for r in result.rows)
        == 7 * 86_400 + 1
    )
    assert result.next.next_run_at == now + timedelta(seconds=1)


def test_overlap_policies() -> None:
    now = T0 + timedelta(milliseconds=5)
    skip = plan_pass(schedule(), now, active_runs=1, buffered_runs=0)
    assert statuses(skip) == [("12:00", "skipped", "schedule")]
    assert skip.rows[0].error is not None and "overlap" in skip.rows[0].error
    buffer = plan_pass(schedule(overlap_policy="buffer_one"), now, active_runs=1, buffered_runs=0)
    assert buffer.rows[0].status == "pending" and buffer.rows[0].buffered
    full = plan_pass(schedule(overlap_policy="buffer_one"), now, active_runs=1, buffered_runs=1)
    assert full.rows[0].status == "skipped"
    allow = plan_pass(schedule(overlap_policy="allow_all"), now, active_runs=5, buffered_runs=0)
    assert allow.rows[0].status == "pending" and not allow.rows[0].buffered


def test_remaining_runs_end_the_schedule() -> None:
    result = plan_pass(schedule(remaining_runs=1), T0, active_runs=0, buffered_runs=0)
    assert result.remaining_runs == 0
    assert result.next.state == "ended" and result.next.next_run_at is None


def test_end_at_is_inclusive_and_ends() -> None:
    result = plan_pass(
        schedule(end_at=T0), T0 + timedelta(seconds=1), active_runs=0, buffered_runs=0
    )
    assert statuses(result) == [("12:00", "pending", "schedule")]
    assert result.next.state == "ended"


def test_jitter_delays_the_fire_instant() -> None:
    jittered = schedule(jitter_seconds=30)
    assert jittered.next_run_at == T0
    result = plan_pass(jittered, T0 + timedelta(seconds=31), active_runs=0, buffered_runs=0)
    row = result.rows[0]
    assert row.status == "pending"
    assert timedelta(0) <= row.fire_at - row.scheduled_at < timedelta(seconds=30)
