"""What the fault tests check after a run, from the database and from the target.

`audit_window` answers, for every due slot of a set of schedules in [start, end):
- was it recorded exactly once (no gap, no duplicate, nothing that should not exist)?
- did it end in a final status its policies allow (none pending, running or retrying)?
  `missed` only when the row was written later than the grace after its instant, `skipped` only
  for overlap policy `skip` while an earlier run of the schedule was unfinished, `failed` only
  for a target that refuses or for a run that used up its attempts;
- did the target receive it as often as it should: a run that ran was delivered at least once,
  a skipped or missed slot never; every delivery of one slot carries the same Idempotency-Key
  and the same execution id (webhook-id) as its row;
- how many deliveries were redundant (the target had already answered the same key with a final
  status: the extra deliveries that at-least-once allows after a crash).
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from app.domain.cron import parse_cron
from app.domain.execution import QUEUED
from app.domain.schedule import Schedule
from app.domain.slots import slots_between
from app.domain.timezones import load_zone
from app.domain.webhook import idempotency_key
from app.services.schedules import ScheduleService
from tests.support.target import Received

RETRYABLE = {408, 425, 429} | set(range(500, 600))
# A finisher computes finished_at a moment before it commits; a dispatcher that saw the run as
# unfinished may have started its transaction (created_at) that moment later.
OVERLAP_TOLERANCE = timedelta(seconds=1)


def create_schedules(
    database_url: str,
    specs: Sequence[dict[str, Any]],
    *,
    tenant: str = "acme",
    allowlist: tuple[str, ...] = (),
) -> list[Schedule]:
    """Create many schedules of one tenant through the service, on one connection."""

    async def create() -> list[Schedule]:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as conn:
            service = ScheduleService(conn, tenant, target_allowlist=allowlist)
            return [await service.create(dict(spec)) for spec in specs]

    return asyncio.run(create())


def scalar(database_url: str, sql: str, params: Sequence[Any] = ()) -> Any:
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
    return None if row is None else row[0]


def unfinished_before(database_url: str, end: datetime) -> int:
    return int(
        scalar(
            database_url,
            "SELECT count(*) FROM workflow_schedule_executions "
            "WHERE status IN ('pending', 'running', 'retrying') AND scheduled_at < %s",
            (end,),
        )
    )


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@dataclass
class Audit:
    expected_slots: int = 0
    rows: int = 0
    missing: list[tuple[str, datetime]] = field(default_factory=list)
    extra: list[tuple[str, datetime]] = field(default_factory=list)
    duplicate_slots: int = 0  # slots with more than one row
    unfinished: list[dict[str, Any]] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    deliveries: int = 0
    slots_delivered: int = 0
    redundant_deliveries: int = 0  # deliveries after the target had given a final answer
    slots_redelivered: int = 0  # slots with at least one redundant delivery
    max_deliveries_per_slot: int = 0
    attempts: Counter[int] = field(default_factory=Counter)

    @property
    def lost(self) -> int:
        """Due slots without a final row: missing, or still unfinished."""
        return len(self.missing) + len(self.unfinished)

    def summary(self) -> dict[str, Any]:
        return {
            "due_slots": self.expected_slots,
            "rows": self.rows,
            "lost": self.lost,
            "missing_rows": len(self.missing),
            "extra_rows": len(self.extra),
            "duplicate_slots": self.duplicate_slots,
            "unfinished": len(self.unfinished),
            "statuses": dict(sorted(self.statuses.items())),
            "policy_violations": len(self.violations),
            "deliveries": self.deliveries,
            "slots_delivered": self.slots_delivered,
            "duplicate_deliveries": self.redundant_deliveries,
            "slots_delivered_twice_or_more": self.slots_redelivered,
            "max_deliveries_per_slot": self.max_deliveries_per_slot,
            "attempts_histogram": dict(sorted(self.attempts.items())),
        }

    def assert_clean(self) -> None:
        problems = []
        if self.missing:
            problems.append(f"{len(self.missing)} due slot(s) without a row: {self.missing[:5]}")
        if self.extra:
            problems.append(f"{len(self.extra)} row(s) for no due slot: {self.extra[:5]}")
        if self.duplicate_slots:
            problems.append(f"{self.duplicate_slots} slot(s) with more than one row")
        if self.unfinished:
            problems.append(
                f"{len(self.unfinished)} run(s) still unfinished: "
                + "; ".join(
                    f"{r['status']} {r['trigger_id']} {r['scheduled_at']:%H:%M:%S} "
                    f"attempts={r['attempts']} job={r['job_id']}"
                    for r in self.unfinished[:5]
                )
            )
        if self.violations:
            problems.append(
                f"{len(self.violations)} policy violation(s): " + "; ".join(self.violations[:8])
            )
        assert not problems, "\n".join(problems)


Expect = Callable[[Schedule, dict[str, Any], list[Received]], str | None]


def slot_of(request: Received) -> float:
    """The slot a delivery was for (its body's `scheduledAt`), as a POSIX timestamp."""
    return datetime.fromisoformat(request.json()["scheduledAt"].replace("Z", "+00:00")).timestamp()


def for_slots_in(requests: Iterable[Received], start: datetime, end: datetime) -> list[Received]:
    """The deliveries of slots in [start, end): the window `audit_window` checks. A request
    received inside a window can be for a slot outside it (a first slot due a moment before the
    window opened, sent late; a slot sent a moment before its instant as the window closed)."""
    return [r for r in requests if start.timestamp() <= slot_of(r) < end.timestamp()]


def audit_window(
    database_url: str,
    schedules: Iterable[Schedule],
    start: datetime,
    end: datetime,
    requests: Sequence[Received],
    expect: Expect | None = None,
) -> Audit:
    """Check every due slot of `schedules` in [start, end) (see the module docstring).

    `expect(schedule, row, deliveries)` may add a scenario's own rule for a finished row: it
    returns a message when the row's final status is not what the scenario allows.
    """
    by_id = {s.id: s for s in schedules}
    audit = Audit()
    expected = {
        (s.id, slot)
        for s in by_id.values()
        for slot in slots_between(
            parse_cron(s.cron_expression), load_zone(s.timezone), start, end, limit=None
        )
    }
    audit.expected_slots = len(expected)
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        all_rows = conn.execute(
            "SELECT id, trigger_id, scheduled_at, fire_at, created_at, started_at, finished_at, "
            "status, attempts, http_status, trigger, error, job_id "
            "FROM workflow_schedule_executions WHERE trigger_id = ANY(%s) "
            "ORDER BY trigger_id, scheduled_at",
            (list(by_id),),
        ).fetchall()
        audit.duplicate_slots = len(
            conn.execute(
                "SELECT trigger_id, scheduled_at FROM workflow_schedule_executions "
                "WHERE scheduled_at >= %s AND scheduled_at < %s AND trigger_id = ANY(%s) "
                "GROUP BY 1, 2 HAVING count(*) > 1",
                (start, end, list(by_id)),
            ).fetchall()
        )
    history: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in all_rows:
        history[row["trigger_id"]].append(row)
    rows = [r for r in all_rows if start <= r["scheduled_at"] < end]
    audit.rows = len(rows)
    recorded = {(r["trigger_id"], r["scheduled_at"]) for r in rows}
    audit.missing = sorted((str(t), at) for t, at in expected - recorded)
    audit.extra = sorted((str(t), at) for t, at in recorded - expected)

    delivered: dict[str, list[Received]] = defaultdict(list)
    for request in requests:
        delivered[request.headers.get("idempotency-key", "")].append(request)

    for row in rows:
        schedule = by_id[row["trigger_id"]]
        audit.statuses[row["status"]] += 1
        key = idempotency_key(row["trigger_id"], row["scheduled_at"])
        got = delivered.pop(key, [])
        where = f"{schedule.workflow_id} {row['scheduled_at']:%H:%M:%S}"
        if row["status"] in QUEUED:
            audit.unfinished.append(row)
            continue
        _check_status(audit, schedule, row, history[row["trigger_id"]], where)
        if expect is not None and (message := expect(schedule, row, got)):
            audit.violations.append(f"{where}: {message}")
        _check_deliveries(audit, row, got, where)

    # Deliveries for slots of these schedules in the window that have no row at all.
    for key, got in delivered.items():
        body = got[0].json()
        at = datetime.fromisoformat(body["scheduledAt"].replace("Z", "+00:00"))
        if UUID(body["triggerId"]) in by_id and start <= at < end:
            audit.violations.append(f"delivered {key} ({len(got)}x) but no row for that slot")
    return audit


def _check_status(
    audit: Audit,
    schedule: Schedule,
    row: dict[str, Any],
    history: list[dict[str, Any]],
    where: str,
) -> None:
    status = row["status"]
    late = row["created_at"] - row["fire_at"]
    grace = timedelta(seconds=schedule.misfire_grace_seconds)
    if status == "missed":
        if late <= grace:
            audit.violations.append(f"{where}: missed but dispatched only {late} late")
        return
    if row["trigger"] == "schedule" and late > grace + timedelta(seconds=1):
        audit.violations.append(f"{where}: {status} although dispatched {late} late (misfire)")
    if status == "skipped":
        if schedule.overlap_policy != "skip":
            audit.violations.append(
                f"{where}: skipped under overlap policy {schedule.overlap_policy}"
            )
        elif not any(
            other["scheduled_at"] < row["scheduled_at"]
            and other["created_at"] <= row["created_at"]
            and other["status"] not in ("skipped", "missed")
            and (
                other["finished_at"] is None
                or other["finished_at"] > row["created_at"] - OVERLAP_TOLERANCE
            )
            for other in history
        ):
            audit.violations.append(f"{where}: skipped while no earlier run was unfinished")
    elif status == "cancelled":
        audit.violations.append(f"{where}: cancelled although its schedule exists")
    elif status in ("succeeded", "failed"):
        audit.attempts[row["attempts"]] += 1


def _check_deliveries(audit: Audit, row: dict[str, Any], got: list[Received], where: str) -> None:
    status = row["status"]
    if status in ("skipped", "missed"):
        if got:
            audit.violations.append(f"{where}: {status} but delivered {len(got)}x")
        return
    if not got:
        audit.violations.append(f"{where}: {status} but never delivered")
        return
    audit.deliveries += len(got)
    audit.slots_delivered += 1
    audit.max_deliveries_per_slot = max(audit.max_deliveries_per_slot, len(got))
    ids = {r.headers.get("webhook-id") for r in got}
    bodies = {r.json()["executionId"] for r in got}
    if ids != {str(row["id"])} or bodies != {str(row["id"])}:
        audit.violations.append(
            f"{where}: deliveries carry execution ids {ids | bodies}, row is {row['id']}"
        )
    if row["attempts"] < len(got):
        audit.violations.append(
            f"{where}: {len(got)} deliveries but only {row['attempts']} attempts recorded"
        )
    redundant = sum(
        1 for previous in got[:-1] if previous.status not in RETRYABLE
    )  # each delivery after a final answer is one the target did not need
    audit.redundant_deliveries += redundant
    audit.slots_redelivered += 1 if redundant else 0


HICCUP_LIMIT = 1.0
"""The most one instant set aside by `assert_fire_lag_within` may be late: a stall of the
machine, not of the engine."""


def assert_fire_lag_within(slots: Sequence[tuple[float, float]], bound: float) -> None:
    """The fire lag's p99 is within `bound` over the deliveries `(slot, received_at)` of every
    instant but the worst one, which is never `HICCUP_LIMIT` late.

    Every schedule of an instant is claimed, started and sent together, so an instant is one
    observation of the engine, however many schedules share it: over a short window (15-30
    instants) the p99 of the deliveries is the worst instant. The shared 2-core CI machine
    stalls a process now and then: in one run of the suite one instant of the flooding-tenant
    test was 247 ms late (p50 6.4 ms), while 313 instants of it on a quiet machine stayed
    within 41 ms. What these tests look for, a neighbour's load slowing a tenant, lasts as
    long as that load, which is the whole window: it makes more than one instant late and
    still fails."""
    by_instant: defaultdict[float, list[float]] = defaultdict(list)
    for slot, at in slots:
        by_instant[slot].append(at - slot)
    worst = max(by_instant, key=lambda slot: max(by_instant[slot]), default=None)
    rest = [lag for slot, lags in by_instant.items() if slot != worst for lag in lags]
    described = {"all": lag_stats([lag for lags in by_instant.values() for lag in lags])}
    described |= {"without the worst instant": lag_stats(rest)}
    assert worst is None or max(by_instant[worst]) < HICCUP_LIMIT, described
    assert percentile(rest, 0.99) <= bound, described


def lag_stats(lags: Sequence[float]) -> dict[str, float]:
    if not lags:
        return {}
    return {
        "p50_ms": round(1000 * statistics.median(lags), 1),
        "p99_ms": round(1000 * percentile(lags, 0.99), 1),
        "max_ms": round(1000 * max(lags), 1),
    }
