"""Runs one batch job: every run of the batch is attempted concurrently over HTTP.

Start (one short transaction) → the HTTP calls with no transaction open → finish (one short
transaction recording every outcome). A burst of 10,000 runs is 100 batch jobs, each sending
its 100 requests at once, instead of 10,000 Procrastinate jobs at a few hundred per second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from uuid import UUID

from app.domain.delivery import Outcome, build_delivery, target_url_for
from app.domain.policies import url_allowed
from app.services.executions import Attempt, finish_batch, start_batch
from app.settings import Settings
from db.types import Pool
from worker.http_target import HttpTarget

log = logging.getLogger("worker.executor")


class BatchExecutor:
    def __init__(
        self,
        pool: Pool,
        target: HttpTarget,
        settings: Settings,
        on_sent: Callable[[Attempt, float], None] | None = None,
        on_outcome: Callable[[Attempt, Outcome], None] | None = None,
    ) -> None:
        self.pool = pool
        self.target = target
        self.settings = settings
        self.on_sent = on_sent
        self.on_outcome = on_outcome

    async def run_batch(self, execution_ids: Sequence[UUID]) -> None:
        async with self.pool.connection() as conn:
            attempts = await start_batch(conn, execution_ids)
        claimed_at = time.monotonic()
        if not attempts:
            return
        outcomes = await asyncio.gather(*(self._attempt(a, claimed_at) for a in attempts))
        async with self.pool.connection() as conn:
            paused = await finish_batch(conn, list(zip(attempts, outcomes, strict=True)))
        for schedule_id in paused:
            log.warning(
                "schedule auto-paused after consecutive failures",
                extra={"event": "schedule.auto_paused", "schedule_id": str(schedule_id)},
            )

    async def _attempt(self, attempt: Attempt, claimed_at: float) -> Outcome:
        if attempt.target_url is not None and not url_allowed(
            attempt.target_url, self.settings.target_allowlist
        ):
            return Outcome(
                kind="failed",
                http_status=None,
                workflow_run_id=None,
                retry_after_seconds=None,
                duration_ms=0,
                error="targetUrl is not (or no longer) allowed by SCHEDULER_TARGET_ALLOWLIST",
            )
        delivery = build_delivery(
            execution_id=attempt.execution_id,
            trigger_id=attempt.trigger_id,
            workflow_id=attempt.workflow_id,
            scheduled_at=attempt.scheduled_at,
            attempt=attempt.attempt,
            trigger=attempt.trigger,
            input=attempt.input,
            url=target_url_for(
                attempt.workflow_id, attempt.target_url, self.settings.scheduler_target_url
            ),
            secret=self.settings.internal_api_secret.get_secret_value(),
            timestamp=int(time.time()),
        )
        await _until_fire_instant(attempt, claimed_at)
        if self.on_sent is not None:
            self.on_sent(attempt, time.time())
        outcome = await self.target.send(delivery, attempt.timeout_seconds)
        if self.on_outcome is not None:
            self.on_outcome(attempt, outcome)
        return outcome


async def _until_fire_instant(attempt: Attempt, claimed_at: float) -> None:
    """A run dispatched ahead of its slot waits for the instant, measured on the database
    clock (`started_at` is the database's now when the batch was claimed), so a worker whose
    own clock is off still sends on time."""
    if attempt.fire_at is None or attempt.fire_at <= attempt.started_at:
        return
    ahead = (attempt.fire_at - attempt.started_at).total_seconds()
    remaining = ahead - (time.monotonic() - claimed_at)
    if remaining > 0:
        await asyncio.sleep(remaining)
