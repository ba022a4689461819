"""Reads that tolerate a second of lag go to a streaming replica (DATABASE_READ_URL) while it
is fresh enough, to the primary otherwise (issue 13; docs/scaling.md, "Read replicas").

`ReadRouter` is a supervised loop (app/supervised.py) of each API process. Every `period` it
samples the primary's flushed WAL position and asks the replica how far it has replayed, on a
connection of its own; app/domain/replication.py turns that into a verdict: usable, or why not
(unreachable, not a standby, replay paused, lagging more than SCHEDULER_READ_MAX_LAG_SECONDS).
The verdict is logged when reads change sides (`read.replica`, `read.degraded`: once per
transition, never per request), shown by /ready (`readReplica`) and by /metrics.

The request path (`lease`) never waits on a probe: it takes a connection from the read pool
when the last verdict says "usable", else it returns None and the caller reads the primary. A
read pool exists only while the replica answers: it is opened when the replica becomes usable
and closed when it becomes unreachable, so a replica that is down costs no reconnection noise.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from app.api.metrics_text import counter, gauge
from app.domain.replication import (
    NOT_PROBED,
    PrimarySample,
    ReadVerdict,
    StandbyState,
    judge,
    keep_samples,
)
from app.services.replication import primary_sample, standby_state
from app.supervised import Service, ServiceConfig
from db.pool import APPLICATION, create_pool
from db.types import Conn, Pool

log = logging.getLogger("app.api.read_routing")

PROBE_TIMEOUT = 2.0
"""Seconds a probe of either server may take; a replica that does not answer within it is
unreachable (a hung network must not leave the last "usable" verdict standing)."""
LEASE_TIMEOUT = 1.0
"""Seconds a request waits for a read-pool connection before it reads the primary instead."""


def probe_period(max_lag: float) -> float:
    """Between probes: the staleness estimate is coarse by one period, so a quarter of the
    bound, at most half a second."""
    return min(0.5, max_lag / 4)


class ReadRouter(Service[ReadVerdict]):
    def __init__(self, primary: Pool, read_url: str, max_lag: float, pool_size: int) -> None:
        period = probe_period(max_lag)
        super().__init__(ServiceConfig("read.probe", period=period, backoff=period))
        self.primary = primary
        self.read_url = read_url
        self.max_lag = max_lag
        self.pool_size = pool_size
        self.verdict = NOT_PROBED
        self.fallbacks = 0  # times reads moved from the replica to the primary
        self._samples: tuple[PrimarySample, ...] = ()
        self._probe_conn: Conn | None = None
        self._pool: Pool | None = None
        self._logged: str | None = None

    # -- the loop -----------------------------------------------------------------------------
    async def run_once(self, now: datetime | None) -> ReadVerdict:
        await self._sample_primary()
        try:
            state = await self._probe_replica()
        except (psycopg.Error, OSError, TimeoutError) as exc:
            await self._forget_replica()
            verdict = ReadVerdict(False, f"unreachable: {type(exc).__name__}", None)
        else:
            verdict = judge(self._samples, state, time.monotonic(), self.max_lag)
            if verdict.usable and not await self._open_pool():
                verdict = ReadVerdict(False, "unreachable: the read pool did not open", None)
        self._set(verdict)
        return verdict

    async def _sample_primary(self) -> None:
        """A new sample of the primary's position; none while the primary does not answer
        (the kept ones age, so the replica counts as lagging once they are too old)."""
        at = time.monotonic()
        try:
            async with (
                asyncio.timeout(PROBE_TIMEOUT),
                self.primary.connection(timeout=PROBE_TIMEOUT) as conn,
            ):
                sample = await primary_sample(conn, at)
        except (psycopg.Error, OSError, TimeoutError):
            sample = None
        now = time.monotonic()
        samples = (*self._samples, sample) if sample else self._samples
        self._samples = keep_samples(samples, now, self.max_lag)

    async def _probe_replica(self) -> StandbyState:
        """The replica's replay state, on the probe's own connection. A connection that was
        open and fails is replaced once before the replica counts as unreachable: an idle
        connection closed by a proxy or a network blip is not an outage."""
        reused = self._probe_conn is not None and not self._probe_conn.closed
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                return await standby_state(await self._replica())
        except (psycopg.OperationalError, OSError):
            if not reused:
                raise
        await self._close_probe()
        async with asyncio.timeout(PROBE_TIMEOUT):
            return await standby_state(await self._replica())

    async def _replica(self) -> Conn:
        if self._probe_conn is None or self._probe_conn.closed:
            self._probe_conn = await psycopg.AsyncConnection.connect(
                self.read_url,
                autocommit=True,
                row_factory=dict_row,
                connect_timeout=max(1, int(PROBE_TIMEOUT)),
                fallback_application_name=f"{APPLICATION} read-probe",
            )
        return self._probe_conn

    async def _open_pool(self) -> bool:
        if self._pool is not None:
            return True
        pool = create_pool(self.read_url, min_size=1, max_size=self.pool_size, name="api-read")
        try:
            await pool.open(wait=True, timeout=PROBE_TIMEOUT)
        except (psycopg.Error, OSError, TimeoutError):
            await pool.close()
            return False
        self._pool = pool
        return True

    async def _close_probe(self) -> None:
        conn, self._probe_conn = self._probe_conn, None
        if conn is not None:
            with suppress(psycopg.Error, OSError):
                await conn.close()

    async def _forget_replica(self) -> None:
        await self._close_probe()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close(timeout=1.0)

    def _set(self, verdict: ReadVerdict) -> None:
        if self.verdict.usable and not verdict.usable:
            self.fallbacks += 1
        self.verdict = verdict
        if verdict.state == self._logged:
            return  # the same side as before: nothing new to say (not per probe, not per read)
        self._logged = verdict.state
        if verdict.usable:
            log.info(
                "lag-tolerant reads go to the replica",
                extra={"event": "read.replica", "lag_seconds": verdict.lag_seconds},
            )
        else:
            log.warning(
                "lag-tolerant reads go to the primary: the replica is %s",
                verdict.reason,
                extra={"event": "read.degraded", "reason": verdict.reason},
            )

    async def close(self) -> None:
        await self._forget_replica()

    # -- the request path ---------------------------------------------------------------------
    async def lease(self) -> tuple[Pool, Conn] | None:
        """A replica connection (return it to the pool given), or None: read the primary."""
        pool = self._pool
        if pool is None or not self.verdict.usable:
            return None
        try:
            return pool, await pool.getconn(timeout=LEASE_TIMEOUT)
        except psycopg.Error:  # PoolTimeout included: every connection busy, or the replica
            return None  # just went away (the next probe says which); this read is served

    def metrics(self) -> str:
        """This process's read routing in the Prometheus text format."""
        lag = self.verdict.lag_seconds
        lines = [
            *gauge(
                "scheduler_read_replica_in_use",
                "1 while this API process sends lag-tolerant reads to DATABASE_READ_URL, 0"
                " while they go to the primary",
                [("", int(self.verdict.usable))],
            ),
            *counter(
                "scheduler_read_replica_fallbacks_total",
                "Times this API process moved lag-tolerant reads from the replica to the primary",
                [("", self.fallbacks)],
            ),
        ]
        if lag is not None:
            lines += gauge(
                "scheduler_read_replica_lag_seconds",
                "Upper bound of the replica's staleness at the last probe",
                [("", f"{lag:.3f}")],
            )
        return "\n".join(lines) + "\n"
