"""The numbers behind /metrics, from the database (SPEC §7); app/api/metrics_text.py renders
them in the Prometheus text format.

Every process's work is in the database, so the API can answer for the whole deployment
without scraping each worker: fires by status and the lag and duration histograms come from
the folded statistics (lifetime values, never decreasing), queue depth and backlog from live
counts.

Nothing here costs in proportion to a table's size (the endpoint is anonymous by default): the
live counts stop at `COUNT_CAP`, and schedules by state are counted exactly only while the table
is small, estimated from the planner's statistics beyond. The API also caches the rendered text
(METRICS_CACHE_SECONDS) with one computation in flight at a time (app/api/snapshots.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.execution import FINAL_STATUSES
from app.domain.loop_health import LoopState
from db import jobs
from db.repositories import alert_deliveries as alerts_repo
from db.repositories import health as health_repo
from db.repositories import outcomes as outcomes_repo
from db.repositories import schedules as schedules_repo
from db.repositories import stats as stats_repo
from db.repositories.alert_deliveries import OutboxGauges
from db.types import Conn

FINAL = FINAL_STATUSES
COUNT_CAP = 10_000
"""Queue depth and due backlog count at most this many rows: past it, "at least this many"."""
EXACT_SCHEDULE_COUNT_MAX_BYTES = 8 * 1024 * 1024
"""Up to this size (~20,000 schedules) the schedules table is counted exactly, a scan of a few
milliseconds; a larger one is estimated (pg_class.reltuples × pg_stats frequencies)."""


@dataclass(frozen=True, slots=True)
class DeploymentMetrics:
    """One reading of the whole deployment, as /metrics shows it."""

    folded: dict[tuple[str, str], int]
    """The folded statistics, (metric, key) -> lifetime value (db/repositories/stats.py)."""
    queue_depth: dict[tuple[str, str], int]
    """(queue, status) -> Procrastinate jobs todo or doing, each counted up to COUNT_CAP."""
    due_backlog: int
    awaiting_result: int
    schedules_by_state: dict[str, int]
    loops: list[LoopState]
    alert_outbox: OutboxGauges


async def schedules_by_state(conn: Conn) -> dict[str, int]:
    """Schedules by state: exact on a small table, the planner's estimate on a large one."""
    if await schedules_repo.table_bytes(conn) <= EXACT_SCHEDULE_COUNT_MAX_BYTES:
        return await schedules_repo.counts_all_by_state(conn)
    return await schedules_repo.counts_all_by_state_estimate(conn)


async def collect(conn: Conn) -> DeploymentMetrics:
    folded = await stats_repo.global_metrics(conn)
    depth = await jobs.queue_depth(conn, COUNT_CAP)
    backlog = await schedules_repo.due_backlog(conn, COUNT_CAP)
    awaiting = await outcomes_repo.awaiting_result(conn, COUNT_CAP)
    states = await schedules_by_state(conn)
    loops = await health_repo.list_loops(conn)  # every worker's loops (H2), a few rows each
    outbox = await alerts_repo.gauges(conn, cap=COUNT_CAP)
    return DeploymentMetrics(folded, depth, backlog, awaiting, states, loops, outbox)
