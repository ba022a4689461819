"""Per-tenant quotas (issue 10, H3): no tenant can flood the others.

Three limits, counted in PostgreSQL so that they hold across every API process and worker:
- schedules stored (`SCHEDULER_TENANT_MAX_SCHEDULES`): checked when a schedule is created
  (also through `register`), under a per-tenant advisory lock;
- runs created per minute (`SCHEDULER_TENANT_MAX_RUNS_PER_MINUTE`, a sliding window): manual
  runs and backfills are refused whole beyond it; the dispatcher's catch-up of misfired slots
  is charged too, and catch-up beyond it is recorded `missed`. A schedule's regular on-time
  fires are not charged: the schedules quota and the cron itself bound them;
- runs in flight (`SCHEDULER_TENANT_MAX_RUNS_IN_FLIGHT`): the workers leave a tenant's runs
  beyond it pending (start_batch), and manual runs and backfills are refused while the tenant
  is at it.

A refused request raises `QuotaExceeded` (429 with `Retry-After`, the message names the limit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from app.domain.firing import PassResult, SlotRow, plan_pass
from app.domain.quotas import RunUsage, TenantQuotas, runs_left, seconds_until_room
from app.domain.schedule import Schedule
from app.errors import QuotaExceeded, ValidationFailed
from app.settings import Settings
from db.repositories import quotas as repo
from db.types import Conn

MAX_SCHEDULES = "SCHEDULER_TENANT_MAX_SCHEDULES"
MAX_RUNS_PER_MINUTE = "SCHEDULER_TENANT_MAX_RUNS_PER_MINUTE"
MAX_RUNS_IN_FLIGHT = "SCHEDULER_TENANT_MAX_RUNS_IN_FLIGHT"

SCHEDULES_RETRY_AFTER = 60
RACING_CREATES = 64
"""Creates of one tenant that may be in flight at once without the lock (see reserve_schedule)."""
"""Room for a schedule comes only from deleting one: a minute is a polite pace to ask again."""
IN_FLIGHT_RETRY_AFTER = 5
"""Runs in flight end when their targets answer: a few seconds is the usual wait."""


def quotas_of(settings: Settings) -> TenantQuotas:
    return TenantQuotas(
        max_schedules=settings.scheduler_tenant_max_schedules,
        max_runs_per_minute=settings.scheduler_tenant_max_runs_per_minute,
        max_runs_in_flight=settings.scheduler_tenant_max_runs_in_flight,
    )


async def reserve_schedule(conn: Conn, tenant: str, quotas: TenantQuotas, count: int = 1) -> None:
    """Before creating `count` schedules, in their transaction: raise QuotaExceeded when the
    tenant would store more than its maximum (a batch is refused whole).

    Far from the limit one create locks nothing: a lock held to the commit serialised every
    create of a tenant, and at 200 creates a second their queue put p99 at ~200 ms (`make bench`,
    api). Within `RACING_CREATES` of it, and for every batch (count > 1), the tenant's creation
    lock is taken until the transaction ends and the count is made again, so concurrent creates
    cannot pass it unless more than `RACING_CREATES` single creates of one tenant race at once."""
    limit = quotas.max_schedules
    if limit is None or count <= 0:
        return
    stored = await repo.schedules_stored(conn, tenant)
    if count == 1 and stored + RACING_CREATES < limit:
        return
    await repo.lock_schedules(conn, tenant)
    stored = await repo.schedules_stored(conn, tenant)
    if stored + count > limit:
        creates = f" and this request creates {count}" if count > 1 else ""
        raise QuotaExceeded(
            f"quota: at most {limit} schedules per tenant ({MAX_SCHEDULES}), and you store "
            f"{stored}{creates}; delete schedules you no longer need, or ask the operator to "
            "raise it",
            limit=MAX_SCHEDULES,
            retry_after=SCHEDULES_RETRY_AFTER,
        )


async def check_run_room(
    conn: Conn, tenant: str, quotas: TenantQuotas, wanted: int, now: datetime
) -> None:
    """Before creating up to `wanted` runs on request (no lock, no work done yet): raise
    QuotaExceeded, naming every limit in the way, while the tenant is at its cap of runs in
    flight or has not `wanted` runs left this minute; ValidationFailed (on `end`) when `wanted`
    is more than a whole minute's quota (waiting would not help).
    """
    limit, cap = quotas.max_runs_per_minute, quotas.max_runs_in_flight
    if limit is not None and wanted > limit:
        raise ValidationFailed(
            f"end: the range holds {wanted} slots, more than the {limit} runs a tenant may "
            f"create per minute ({MAX_RUNS_PER_MINUTE}); backfill it in smaller ranges",
            field="end",
        )
    refusals = []
    if cap is not None:
        refusals.append(_over_in_flight(cap, await repo.runs_in_flight(conn, tenant, cap)))
    if limit is not None and wanted > 0:
        refusals.append(_over_minute(limit, wanted, await repo.run_usage(conn, tenant, now)))
    _refuse(refusals)


async def charge_runs(
    conn: Conn, tenant: str, quotas: TenantQuotas, created: int, now: datetime
) -> None:
    """After creating `created` runs on request, in their transaction (call it last: the
    tenant's bucket stays locked until commit): add them to the tenant's minute, or raise
    QuotaExceeded, which rolls the runs back, when concurrent requests used the room first."""
    limit = quotas.max_runs_per_minute
    if limit is None or created <= 0:
        return
    await repo.add_runs(conn, {tenant: created}, now)
    usage = await repo.run_usage(conn, tenant, now)
    if usage.used() > limit + 1e-9:
        before = dataclasses.replace(usage, current=usage.current - created)
        _refuse([_over_minute(limit, created, before)])


def _over_in_flight(cap: int, running: int) -> QuotaExceeded | None:
    if running < cap:
        return None
    return QuotaExceeded(
        f"quota: at most {cap} runs in flight per tenant ({MAX_RUNS_IN_FLIGHT}), and "
        f"{running} are running; retry in {IN_FLIGHT_RETRY_AFTER} s",
        limit=MAX_RUNS_IN_FLIGHT,
        retry_after=IN_FLIGHT_RETRY_AFTER,
    )


def _over_minute(limit: int, wanted: int, usage: RunUsage) -> QuotaExceeded | None:
    left = runs_left(usage, limit)
    if wanted <= left:
        return None
    retry_after = seconds_until_room(usage, limit, wanted)
    return QuotaExceeded(
        f"quota: at most {limit} runs per minute per tenant from manual runs, backfills and "
        f"catch-up ({MAX_RUNS_PER_MINUTE}); {left} left now and this request needs {wanted}; "
        f"retry in {retry_after} s",
        limit=MAX_RUNS_PER_MINUTE,
        retry_after=retry_after,
    )


def _refuse(refusals: Sequence[QuotaExceeded | None]) -> None:
    """Raise the refusal, or one naming every limit in the way (retry after the longest)."""
    found = [r for r in refusals if r is not None]
    if len(found) == 1:
        raise found[0]
    if found:
        raise QuotaExceeded(
            "; ".join(r.message for r in found),
            limit=", ".join(r.limit for r in found),
            retry_after=max(r.retry_after for r in found),
        )


class CatchupAllowance:
    """The runs-per-minute quota of the tenants in one dispatcher pass, for catch-up fires.

    Each tenant's usage is read (without a lock) the first time one of its schedules wants to
    catch up, then counted down as the pass plans; `charge` adds the catch-up runs the pass
    created to the tenants' buckets, at the end of the pass, so the buckets are locked only
    for the moment before its commit.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._left: dict[str, int] = {}
        self._used: dict[str, int] = {}

    async def left(self, conn: Conn, tenant: str, now: datetime) -> int | None:
        """Catch-up runs `tenant` may still create in this pass (None: no quota)."""
        if self.limit is None:
            return None
        if tenant not in self._left:
            self._left[tenant] = runs_left(await repo.run_usage(conn, tenant, now), self.limit)
        return self._left[tenant] - self._used.get(tenant, 0)

    def use(self, tenant: str, runs: int) -> None:
        if self.limit is not None and runs > 0:
            self._used[tenant] = self._used.get(tenant, 0) + runs

    async def charge(self, conn: Conn, now: datetime) -> None:
        if self._used:
            await repo.add_runs(conn, self._used, now)

    async def within_quota(
        self,
        conn: Conn,
        schedule: Schedule,
        planned: PassResult,
        as_of: datetime,
        now: datetime,
        *,
        active_runs: int,
        buffered_runs: int,
    ) -> PassResult:
        """`planned` (the schedule's `plan_pass`), with its catch-up fires cut to the tenant's
        quota left at `now` (the surplus is recorded `missed`), counted against it."""
        wanted = _catchup_runs(planned.rows)
        if not wanted:
            return planned
        result = planned
        left = await self.left(conn, schedule.tenant, now)
        if left is not None and wanted > left:
            result = plan_pass(
                schedule,
                as_of,
                active_runs=active_runs,
                buffered_runs=buffered_runs,
                max_catchup=max(0, left),
            )
        self.use(schedule.tenant, _catchup_runs(result.rows))
        return result


def _catchup_runs(rows: Sequence[SlotRow]) -> int:
    return sum(1 for row in rows if row.status == "pending" and row.trigger == "catchup")
