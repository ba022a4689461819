"""Clocks (issue 6, item 4).

(a) A worker whose own clock is 10 minutes behind (libfaketime, `FAKETIME=-600s` preloaded
    into the worker process) still fires every slot at its real instant, and a target that
    verifies signatures (5 minutes of tolerance) accepts every delivery: the database clock is
    the clock, for the send times and for `webhook-timestamp` (issue 10, M3; before, every
    delivery of such a worker was refused with 401). The test first proves the worker's clock
    really is shifted: a Python started the same way reports time.time() 10 minutes behind.
(b) Across 48-hour windows that contain a DST transition in three zones, dispatching with
    injected time at every due instant fires exactly the instants the preview promised, for
    fixed-time and interval schedules.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from app.domain.cron import parse_cron
from app.domain.slots import slots_between
from app.domain.timezones import load_zone
from app.services.dispatch import dispatch_once
from app.services.preview import preview
from app.services.schedules import ScheduleService
from tests.faults.audit import (
    audit_window,
    create_schedules,
    for_slots_in,
    lag_stats,
    percentile,
    slot_of,
    unfinished_before,
)
from tests.faults.conftest import Workers, scaled
from tests.support.db import wait_until
from tests.support.target import RecordingTarget
from tests.support.workers import TEST_SECRET

SKEW = -600  # seconds: the worker's clock is this far from the real one


def _libfaketime() -> str:
    """The preloadable library of the `faketime` package (installed by .ci/run)."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1")) + sorted(
        glob.glob("/usr/lib/faketime/libfaketime.so.1")
    )
    assert found, "libfaketime is not installed: apt-get install faketime"
    return found[0]


def _skewed_env() -> dict[str, str]:
    return {
        "LD_PRELOAD": _libfaketime(),
        "FAKETIME": f"{SKEW:+d}s",
        # Only the wall clock is shifted; monotonic time (timeouts, sleeps) runs normally.
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_NO_CACHE": "1",
    }


@pytest.mark.timeout(scaled(90, 400))
def test_a_worker_with_a_skewed_clock_fires_on_the_database_clock(
    database_url: str, target: RecordingTarget, workers: Workers, figures: Any
) -> None:
    # The same preload, in a plain Python: its time.time() is 30 s behind.
    probe = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        env={**os.environ, **_skewed_env()},
        capture_output=True,
        text=True,
        check=True,
    )
    skew = float(probe.stdout) - time.time()
    assert abs(skew - SKEW) < 2, f"faketime did not shift the clock: {skew:+.1f} s"

    schedules = create_schedules(
        database_url,
        [
            {"workflow_id": f"clock-{n}", "cron_expression": cron, "overlap_policy": "allow_all"}
            for n, cron in enumerate(["* * * * * *"] * 8 + ["*/5 * * * * *"] * 2)
        ],
    )
    target.verify_signatures(TEST_SECRET)  # 401 for a stamp more than 300 s off
    worker = workers.start(**_skewed_env())
    time.sleep(1.5)
    window_start = datetime.now(UTC)
    time.sleep(scaled(10, 300))
    window_end = datetime.now(UTC)
    wait_until(lambda: unfinished_before(database_url, window_end) == 0, 20, "runs to finish")
    requests = target.requests()
    audit = audit_window(database_url, schedules, window_start, window_end, requests)
    in_window = for_slots_in(requests, window_start, window_end)
    lags = [r.at - slot_of(r) for r in in_window]
    # The time each request was stamped with, against its real arrival: the database clock.
    stamp_skews = [int(r.headers["webhook-timestamp"]) - r.at for r in in_window]
    figures(
        scenario=f"worker clock {SKEW:+d} s (libfaketime)",
        python_time_skew_seconds=round(skew, 2),
        webhook_timestamp_skew_seconds={
            "min": round(min(stamp_skews), 1),
            "max": round(max(stamp_skews), 1),
        },
        window_seconds=round((window_end - window_start).total_seconds(), 1),
        fire_lag_real_time=lag_stats(lags),
        **audit.summary(),
    )
    assert worker.alive
    # Whole seconds, stamped up to the lookahead (a few seconds at most) before the send.
    assert all(-5 <= s <= 1.5 for s in stamp_skews), "stamped with the worker's own clock"
    audit.assert_clean()
    assert audit.statuses == {"succeeded": audit.expected_slots}
    assert audit.slots_delivered == audit.expected_slots
    # Real time: never early, and late by milliseconds (a clock-driven worker would be 30 s
    # off). The bounds leave room for a loaded machine.
    assert min(lags) >= 0 and percentile(lags, 0.99) < 1.0 and max(lags) < 2.0, lag_stats(lags)


# --- (b) DST with injected time -------------------------------------------------------------

# Each zone's 48 hours around its 2026 transition (the transition is in the middle).
WINDOWS = [
    # 2026-03-08 02:00 EST → 03:00 EDT (07:00 UTC): spring forward, an hour skipped
    ("America/New_York", datetime(2026, 3, 7, 7, 0, tzinfo=UTC)),
    # 2026-03-29 02:00 CET → 03:00 CEST (01:00 UTC): spring forward
    ("Europe/Berlin", datetime(2026, 3, 28, 1, 0, tzinfo=UTC)),
    # 2026-04-05 03:00 AEDT → 02:00 AEST (16:00 UTC on the 4th): fall back, an hour repeated
    ("Australia/Sydney", datetime(2026, 4, 3, 16, 0, tzinfo=UTC)),
] + scaled(
    [],
    [  # the soak also walks each zone's other 2026 transition
        ("America/New_York", datetime(2026, 10, 31, 6, 0, tzinfo=UTC)),  # Nov 1, fall back
        ("Europe/Berlin", datetime(2026, 10, 24, 1, 0, tzinfo=UTC)),  # Oct 25, fall back
        ("Australia/Sydney", datetime(2026, 10, 3, 16, 0, tzinfo=UTC)),  # Oct 4, forward
    ],
)
CRONS = {
    # fixed-time: neither minute nor hour has * or /
    "30 2 * * *": "fixed",
    "0 2 * * *": "fixed",
    "15 1,2,3 * * *": "fixed",
    "45 0-4 * * *": "fixed",
    "0 12 * * *": "fixed",
    # interval
    "*/30 * * * *": "interval",
    "0 * * * *": "interval",
    "*/20 1-3 * * *": "interval",
    "30 */2 * * *": "interval",
    "0 */10 * * * *": "interval",  # seconds first: every 10 minutes at second 0
}


async def test_fired_instants_equal_the_preview_across_dst_in_three_zones(
    database_url: str, figures: Any
) -> None:
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        found: dict[str, Any] = {}
        for zone, start in WINDOWS:
            end = start + timedelta(hours=48)
            created: dict[str, Any] = {}
            for cron in CRONS:
                created[cron] = await ScheduleService(
                    conn, "acme", clock=lambda start=start: start
                ).create(
                    {
                        "workflow_id": f"dst-{zone}",
                        "cron_expression": cron,
                        "timezone": zone,
                        "overlap_policy": "allow_all",
                    }
                )
            promised = {}
            for cron in CRONS:
                listed, _ = preview(cron, zone, start, 1000)
                promised[cron] = [slot for slot in listed if slot < end]
                assert promised[cron] == slots_between(
                    parse_cron(cron), load_zone(zone), start + timedelta(microseconds=1), end
                ), (zone, cron)
            instants = sorted({slot for slots in promised.values() for slot in slots})
            for instant in instants:  # the injected clock stops at every due instant
                await dispatch_once(conn, now=instant + timedelta(milliseconds=5))
            counts = {}
            for cron, schedule in created.items():
                cursor = await conn.execute(
                    "SELECT scheduled_at, status, trigger FROM workflow_schedule_executions "
                    "WHERE trigger_id = %s ORDER BY scheduled_at",
                    (schedule.id,),
                )
                rows = await cursor.fetchall()
                fired = [r["scheduled_at"] for r in rows]
                assert fired == promised[cron], (zone, cron, fired, promised[cron])
                assert {(r["status"], r["trigger"]) for r in rows} == {("pending", "schedule")}
                counts[cron] = len(fired)
            found[f"{zone} from {start:%Y-%m-%d %H:%M}Z"] = counts
            if start.month < 6:
                _check_transition(zone, promised)
            # Done with this window: its schedules must not fire in the next one's passes.
            await conn.execute(
                "DELETE FROM workflow_schedules WHERE id = ANY(%s)",
                ([schedule.id for schedule in created.values()],),
            )
        figures(scenario="DST, injected time", fired_per_window=found)


def _check_transition(zone: str, promised: dict[str, list[datetime]]) -> None:
    """Hand-checked instants of SPEC §3 at each transition."""
    z = load_zone(zone)

    def local(slots: list[datetime]) -> list[str]:
        return [s.astimezone(z).strftime("%m-%d %H:%M%z") for s in slots]

    if zone == "America/New_York":
        # 02:30 does not exist on 8 March: fires once, at 03:00 EDT (07:00 UTC).
        assert "03-08 03:00-0400" in local(promised["30 2 * * *"])
        # interval: one slot per real hour; the local day of the change has 23 hours
        assert len([s for s in local(promised["0 * * * *"]) if s.startswith("03-08")]) == 23
        # */20 in 01-03: 01:00 01:20 01:40 then straight to 03:00 (nothing in the gap)
        day = [s for s in local(promised["*/20 1-3 * * *"]) if s.startswith("03-08")]
        assert day == [
            "03-08 01:00-0500",
            "03-08 01:20-0500",
            "03-08 01:40-0500",
            "03-08 03:00-0400",
            "03-08 03:20-0400",
            "03-08 03:40-0400",
        ]
        # 15 1,2,3: 02:15 falls in the gap and collapses with nothing (03:15 is its own slot)
        day = [s for s in local(promised["15 1,2,3 * * *"]) if s.startswith("03-08")]
        assert day == ["03-08 01:15-0500", "03-08 03:00-0400", "03-08 03:15-0400"]
    elif zone == "Europe/Berlin":
        assert "03-29 03:00+0200" in local(promised["30 2 * * *"])
        assert "03-29 03:00+0200" in local(promised["0 2 * * *"])
        assert len([s for s in local(promised["*/30 * * * *"]) if s.startswith("03-29")]) == 46
        # 45 0-4: 02:45 is skipped and fires at 03:00; 03:45 still fires
        day = [s for s in local(promised["45 0-4 * * *"]) if s.startswith("03-29")]
        assert day == [
            "03-29 00:45+0100",
            "03-29 01:45+0100",
            "03-29 03:00+0200",
            "03-29 03:45+0200",
            "03-29 04:45+0200",
        ]
    else:  # Sydney falls back: 02:00-02:59 happens twice on 5 April
        day = [s for s in local(promised["30 2 * * *"]) if s.startswith("04-05")]
        assert day == ["04-05 02:30+1100"], day  # fixed-time: first occurrence only
        twice = [s for s in local(promised["*/30 * * * *"]) if s.startswith("04-05 02")]
        assert twice == [
            "04-05 02:00+1100",
            "04-05 02:30+1100",
            "04-05 02:00+1000",
            "04-05 02:30+1000",
        ], twice  # interval: both passes
        # the local day has 25 hours: 25 hourly slots
        assert len([s for s in local(promised["0 * * * *"]) if s.startswith("04-05")]) == 25
