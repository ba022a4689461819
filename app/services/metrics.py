"""/metrics in the Prometheus text format, from the database (SPEC §7).

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

from collections.abc import Iterable

from app.domain.execution import STATUSES
from app.domain.incidents import KINDS
from app.domain.stats import bucket_upper_ms
from app.services.health import loop_metrics
from db.repositories import alert_deliveries as alerts_repo
from db.repositories import health as health_repo
from db.repositories import metrics as repo
from db.repositories import outcomes as outcomes_repo
from db.repositories import schedules as schedules_repo
from db.repositories import stats as stats_repo
from db.types import Conn

FINAL = ("succeeded", "failed", "timed_out", "skipped", "missed", "cancelled")
COUNT_CAP = 10_000
"""Queue depth and due backlog count at most this many rows: past it, "at least this many"."""
EXACT_SCHEDULE_COUNT_MAX_BYTES = 8 * 1024 * 1024
"""Up to this size (~20,000 schedules) the schedules table is counted exactly, a scan of a few
milliseconds; a larger one is estimated (pg_class.reltuples × pg_stats frequencies)."""
# Exposed bucket bounds: every third log bucket (each ≈ ×1.95), 1 ms … ~14 min, then +Inf.
EXPOSED_BUCKETS = tuple(range(0, 61, 3))


def _histogram(
    name: str, help_text: str, buckets: dict[int, int], total: int, sum_ms: int
) -> Iterable[str]:
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} histogram"
    for bound in EXPOSED_BUCKETS:
        cumulative = sum(n for b, n in buckets.items() if b <= bound)
        yield f'{name}_bucket{{le="{bucket_upper_ms(bound) / 1000:.6g}"}} {cumulative}'
    yield f'{name}_bucket{{le="+Inf"}} {total}'
    yield f"{name}_sum {sum_ms / 1000:.3f}"
    yield f"{name}_count {total}"


def _buckets(metrics: dict[tuple[str, str], int], metric: str) -> dict[int, int]:
    return {int(key): value for (name, key), value in metrics.items() if name == metric}


async def schedules_by_state(conn: Conn) -> dict[str, int]:
    """Schedules by state: exact on a small table, the planner's estimate on a large one."""
    if await schedules_repo.table_bytes(conn) <= EXACT_SCHEDULE_COUNT_MAX_BYTES:
        return await schedules_repo.counts_all_by_state(conn)
    return await schedules_repo.counts_all_by_state_estimate(conn)


def _incident_metrics(metrics: dict[tuple[str, str], int]) -> Iterable[str]:
    """Alert incidents (issue 12), from the folded statistics like the runs' counters."""
    yield "# HELP scheduler_incidents_opened_total Alert incidents opened, by kind."
    yield "# TYPE scheduler_incidents_opened_total counter"
    for kind in KINDS:
        opened = metrics.get(("incident_opened", kind), 0)
        yield f'scheduler_incidents_opened_total{{kind="{kind}"}} {opened}'
    yield "# HELP scheduler_incidents_open Alert incidents open now, by kind."
    yield "# TYPE scheduler_incidents_open gauge"
    for kind in KINDS:
        still_open = max(0, metrics.get(("incident_open", kind), 0))
        yield f'scheduler_incidents_open{{kind="{kind}"}} {still_open}'


async def render(conn: Conn) -> str:
    metrics = await stats_repo.global_metrics(conn)
    depth = await repo.queue_depth(conn, COUNT_CAP)
    backlog = await schedules_repo.due_backlog(conn, COUNT_CAP)
    awaiting = await outcomes_repo.awaiting_result(conn, COUNT_CAP)
    states = await schedules_by_state(conn)
    loops = await health_repo.list_loops(conn)  # every worker's loops (H2), a few rows each
    outbox = await alerts_repo.gauges(conn, cap=COUNT_CAP)
    lines = [
        "# HELP scheduler_executions_finished_total Runs that reached a final status.",
        "# TYPE scheduler_executions_finished_total counter",
        *(
            f'scheduler_executions_finished_total{{status="{s}"}} {metrics.get(("finished", s), 0)}'
            for s in FINAL
        ),
        "# HELP scheduler_executions Execution rows kept, by status.",
        "# TYPE scheduler_executions gauge",
        *(
            f'scheduler_executions{{status="{s}"}} {max(0, metrics.get(("status", s), 0))}'
            for s in STATUSES
        ),
        *_histogram(
            "scheduler_fire_lag_seconds",
            "First attempt start minus the slot's fire instant (slot + jitter).",
            _buckets(metrics, "lag_bucket"),
            metrics.get(("lag_count", ""), 0),
            metrics.get(("lag_sum_ms", ""), 0),
        ),
        *_histogram(
            "scheduler_run_duration_seconds",
            "Duration of the last attempt of finished runs.",
            _buckets(metrics, "duration_total_bucket"),
            metrics.get(("duration_total_count", ""), 0),
            metrics.get(("duration_total_sum_ms", ""), 0),
        ),
        *_histogram(
            "scheduler_result_wait_seconds",
            "Accepted runs (target answered 202): from acceptance to the workflow's report,"
            " or to the timeout.",
            _buckets(metrics, "result_bucket"),
            metrics.get(("result_count", ""), 0),
            metrics.get(("result_sum_ms", ""), 0),
        ),
        "# HELP scheduler_runs_awaiting_result Runs whose workflow has not reported yet"
        f" (status accepted); counted up to {COUNT_CAP}.",
        "# TYPE scheduler_runs_awaiting_result gauge",
        f"scheduler_runs_awaiting_result {awaiting}",
        "# HELP scheduler_queue_depth Procrastinate jobs waiting (todo) or running (doing);"
        f" {COUNT_CAP} at most are counted.",
        "# TYPE scheduler_queue_depth gauge",
        *(
            f'scheduler_queue_depth{{queue="{q}",status="{st}"}} {n}'
            for (q, st), n in sorted(depth.items())
        ),
        "# HELP scheduler_due_backlog Active schedules more than 1 s past their fire instant;"
        f" counted up to {COUNT_CAP}.",
        "# TYPE scheduler_due_backlog gauge",
        f"scheduler_due_backlog {backlog}",
        "# HELP scheduler_schedules Schedules by state (estimated from planner statistics when"
        " the table is large).",
        "# TYPE scheduler_schedules gauge",
        *(
            f'scheduler_schedules{{state="{s}"}} {states.get(s, 0)}'
            for s in ("active", "paused", "ended")
        ),
        *_incident_metrics(metrics),
        "# HELP scheduler_alert_deliveries_pending Alert deliveries not delivered yet (due or"
        f" waiting for a retry); counted up to {COUNT_CAP}.",
        "# TYPE scheduler_alert_deliveries_pending gauge",
        f"scheduler_alert_deliveries_pending {outbox.pending}",
        "# HELP scheduler_alert_delivery_overdue_seconds How long the most overdue pending alert"
        " delivery is past its next attempt: 0 while the workers' senders keep up.",
        "# TYPE scheduler_alert_delivery_overdue_seconds gauge",
        f"scheduler_alert_delivery_overdue_seconds {outbox.overdue_seconds:.3f}",
        *loop_metrics(loops),
    ]
    return "\n".join(lines) + "\n"
