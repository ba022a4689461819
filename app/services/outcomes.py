"""Workflow outcomes (issue 11): a workflow's report and heartbeats, and the timeout of runs
whose workflow went silent.

The rule that decides between a report and the timeout (docs/semantics.md): the run's lock
orders them, and the deadline is compared with the time of whichever comes first. A report
that arrives before the deadline ends the run as reported; one that arrives at or after it
finds the run `timed_out` (already swept, or timed out right there by the report itself) and
is refused with 409. So the outcome never depends on when the sweep last ran.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from app.domain.callbacks import Report, callback_token_valid, same_report
from app.domain.execution import Execution
from app.domain.incidents import DEFAULT_ALERTS, AlertPolicy
from app.domain.instants import format_instant
from app.errors import Conflict, ExecutionNotFound, Unauthorized
from app.services.attempts import after_runs_end, conclusion_of
from db.repositories import executions as executions_repo
from db.repositories import outcomes as repo
from db.repositories.outcomes import Conclusion, LockedRun
from db.types import Conn

TIMED_OUT_ERROR = (
    "no result reported before the completion deadline (completionTimeoutSeconds); "
    "report with POST {callbackUrl}, or send heartbeats to keep a long workflow alive"
)
SWEEP_LIMIT = 1_000


@dataclass(frozen=True, slots=True)
class Reported:
    """The run after a report. `early`: the report arrived before the 202 it follows was
    recorded; it is kept and applied the moment that answer is (the API answers 202)."""

    execution: Execution
    early: bool = False


class OutcomeService:
    """Reports and heartbeats of one tenant's runs (the tenant a callback token's run belongs
    to, or the API token's): another tenant's run is not found (404)."""

    def __init__(
        self,
        conn: Conn,
        tenant: str,
        *,
        rng: random.Random | None = None,
        alerts: AlertPolicy = DEFAULT_ALERTS,
    ) -> None:
        self.conn, self.tenant = conn, tenant
        self.alerts = alerts
        self.rng = rng or random.Random()  # noqa: S311 - backoff jitter, not security

    async def report(
        self, execution_id: UUID, report: Report, *, now: datetime | None = None
    ) -> Reported:
        """Record how the run's workflow ended. The same report again answers as the first
        did; a different one, or a report for a run that is not awaiting one, is a Conflict
        naming the run's status."""
        refusal: str | None = None
        early = False
        async with self.conn.transaction():
            run = await self._lock(execution_id, now)
            current = run.execution
            prior = await repo.report_of(self.conn, current.id, current.attempts)
            if prior is not None:
                if not same_report(prior, report):
                    raise Conflict(
                        f"the execution is {current.status}: a different result was already "
                        f"reported for attempt {current.attempts} ({prior.status})"
                    )
                early = current.status == "running"
            elif current.status == "accepted" and _past_deadline(run):
                await self._time_out(run)
                refusal = _timed_out_message(run)
            elif current.status == "accepted":
                await repo.save_report(self.conn, current, report, at=run.now, applied=True)
                await self._conclude(run, report)
            elif current.status == "running":
                # The target's 202 is on its way to being recorded: keep the report for it.
                await repo.save_report(self.conn, current, report, at=run.now, applied=False)
                early = True
            else:
                raise Conflict(_not_accepted_message(current))
        if refusal is not None:
            raise Conflict(refusal)
        return Reported(await self._get(current), early)

    async def heartbeat(self, execution_id: UUID, *, now: datetime | None = None) -> Execution:
        """The workflow is alive: its deadline moves to now + completionTimeoutSeconds. A run
        still `running` (its 202 not recorded yet) needs none: its deadline starts then."""
        refusal: str | None = None
        async with self.conn.transaction():
            run = await self._lock(execution_id, now)
            current = run.execution
            if current.status == "accepted" and _past_deadline(run):
                await self._time_out(run)
                refusal = _timed_out_message(run)
            elif current.status == "accepted":
                deadline = run.now + timedelta(seconds=run.completion_timeout_seconds)
                await repo.extend_deadline(self.conn, current.id, current.scheduled_at, deadline)
            elif current.status != "running":
                raise Conflict(_not_accepted_message(current))
        if refusal is not None:
            raise Conflict(refusal)
        return await self._get(current)

    async def _lock(self, execution_id: UUID, now: datetime | None) -> LockedRun:
        run = await repo.lock(self.conn, self.tenant, execution_id, now)
        if run is None:
            raise ExecutionNotFound(f"no execution {execution_id}")
        return run

    async def _get(self, locked: Execution) -> Execution:
        """The run as the report or heartbeat left it, read in its own partition."""
        execution = await executions_repo.get(
            self.conn, self.tenant, locked.id, locked.scheduled_at
        )
        if execution is None:  # deleted by retention between the two statements
            raise ExecutionNotFound(f"no execution {locked.id}")
        return execution

    async def _conclude(self, run: LockedRun, report: Report) -> None:
        end = conclusion_of(
            report,
            attempt=run.execution.attempts,
            max_attempts=run.max_attempts,
            backoff_seconds=run.retry_backoff_seconds,
            random_unit=self.rng.random(),
            at=run.now,
        )
        row = await repo.conclude(self.conn, run.execution.id, run.execution.scheduled_at, end)
        await after_runs_end(self.conn, [row] if row else [], self.alerts, run.now)

    async def _time_out(self, run: LockedRun) -> None:
        deadline = run.execution.completion_deadline
        assert deadline is not None  # an accepted run always has one
        end = Conclusion("timed_out", TIMED_OUT_ERROR, None, deadline)
        row = await repo.conclude(self.conn, run.execution.id, run.execution.scheduled_at, end)
        await after_runs_end(self.conn, [row] if row else [], self.alerts, run.now)


async def load_callback_key(conn: Conn) -> str:
    """The deployment's callback key (made by migration 0008); the API and the workers read
    it once per process."""
    return await repo.callback_key(conn)


async def callback_tenant(conn: Conn, key: str, execution_id: UUID, token: str) -> str:
    """The tenant whose run a callback token proves: 401 for a token that is not this
    execution's (another run's token included), 404 once the run is gone (retention)."""
    if not callback_token_valid(key, execution_id, token):
        raise Unauthorized()
    tenant = await repo.tenant_of(conn, execution_id)
    if tenant is None:
        raise ExecutionNotFound(f"no execution {execution_id}")
    return tenant


async def time_out_due(
    conn: Conn,
    *,
    now: datetime | None = None,
    limit: int = SWEEP_LIMIT,
    alerts: AlertPolicy = DEFAULT_ALERTS,
) -> int:
    """The sweep: accepted runs past their deadline end `timed_out` (a failure: streaks,
    pauseAfterFailures and buffered runs follow, in the same transaction). Returns how many."""
    async with conn.transaction():
        rows = await repo.time_out_due(conn, now=now, limit=limit, error=TIMED_OUT_ERROR)
        await after_runs_end(conn, rows, alerts, now)
    return len(rows)


def _past_deadline(run: LockedRun) -> bool:
    deadline = run.execution.completion_deadline
    return deadline is not None and deadline <= run.now


def _timed_out_message(run: LockedRun) -> str:
    deadline = run.execution.completion_deadline
    assert deadline is not None
    return (
        f"the execution is timed_out: its completion deadline ({format_instant(deadline)}) "
        "passed before this arrived"
    )


def _not_accepted_message(execution: Execution) -> str:
    return (
        f"the execution is {execution.status}, not accepted: only a run whose target answered "
        "202 Accepted awaits a result"
    )
