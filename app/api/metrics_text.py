"""The Prometheus text format (0.0.4) of /metrics: what app/services/metrics.py collects, and
the API process's own read routing (app/api/read_routing.py).

The output is a contract: the alert rules and the Grafana dashboard in deploy/ read these
names, and `promtool check metrics` must accept it (tests/acceptance/test_prometheus_deploy.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from app.domain.execution import STATUSES
from app.domain.incidents import KINDS
from app.domain.loop_health import LoopState
from app.domain.stats import bucket_upper_ms
from app.services.metrics import COUNT_CAP, FINAL, DeploymentMetrics

Samples = Iterable[tuple[str, object]]
"""(labels, value) of each sample: labels written as `name="value",...` ("" for none), the
value as it is printed."""

# Exposed bucket bounds: every third log bucket (each ≈ ×1.95), 1 ms … ~14 min, then +Inf.
EXPOSED_BUCKETS = tuple(range(0, 61, 3))


def _family(kind: str, name: str, help_text: str, samples: Samples) -> Iterator[str]:
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} {kind}"
    for labels, value in samples:
        yield f"{name}{{{labels}}} {value}" if labels else f"{name} {value}"


def gauge(name: str, help_text: str, samples: Samples) -> Iterator[str]:
    return _family("gauge", name, help_text, samples)


def counter(name: str, help_text: str, samples: Samples) -> Iterator[str]:
    return _family("counter", name, help_text, samples)


def _histogram(
    name: str, help_text: str, buckets: dict[int, int], total: int, sum_ms: int
) -> Iterator[str]:
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} histogram"
    for bound in EXPOSED_BUCKETS:
        cumulative = sum(n for b, n in buckets.items() if b <= bound)
        yield f'{name}_bucket{{le="{bucket_upper_ms(bound) / 1000:.6g}"}} {cumulative}'
    yield f'{name}_bucket{{le="+Inf"}} {total}'
    yield f"{name}_sum {sum_ms / 1000:.3f}"
    yield f"{name}_count {total}"


def _folded_histogram(
    folded: dict[tuple[str, str], int], name: str, help_text: str, prefix: str
) -> Iterator[str]:
    """A histogram from the folded statistics `<prefix>_bucket`, `_count` and `_sum_ms`."""
    buckets = {int(key): n for (metric, key), n in folded.items() if metric == f"{prefix}_bucket"}
    return _histogram(
        name,
        help_text,
        buckets,
        folded.get((f"{prefix}_count", ""), 0),
        folded.get((f"{prefix}_sum_ms", ""), 0),
    )


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _loops(states: Sequence[LoopState]) -> Iterator[str]:
    """Each worker loop's last success (unix seconds, database clock) and staleness."""
    labels = [
        f'host="{_label(s.process.host)}",pid="{s.process.pid}",loop="{_label(s.loop)}"'
        for s in states
    ]
    yield from gauge(
        "scheduler_loop_last_success_timestamp_seconds",
        "When each worker loop last completed a pass (0: not yet).",
        (
            (label, f"{s.last_success_at.timestamp() if s.last_success_at else 0:.3f}")
            for label, s in zip(labels, states, strict=True)
        ),
    )
    yield from gauge(
        "scheduler_loop_stale",
        "1 when a worker loop has had no successful pass for max(30 s, 3 x its period).",
        ((label, int(s.stale)) for label, s in zip(labels, states, strict=True)),
    )


def render(numbers: DeploymentMetrics) -> str:
    """The deployment's metrics, one `\\n`-terminated line each."""
    folded = numbers.folded
    lines = [
        *counter(
            "scheduler_executions_finished_total",
            "Runs that reached a final status.",
            ((f'status="{s}"', folded.get(("finished", s), 0)) for s in FINAL),
        ),
        *gauge(
            "scheduler_executions",
            "Execution rows kept, by status.",
            ((f'status="{s}"', max(0, folded.get(("status", s), 0))) for s in STATUSES),
        ),
        *_folded_histogram(
            folded,
            "scheduler_fire_lag_seconds",
            "First attempt start minus the slot's fire instant (slot + jitter).",
            "lag",
        ),
        *_folded_histogram(
            folded,
            "scheduler_run_duration_seconds",
            "Duration of the last attempt of finished runs.",
            "duration_total",
        ),
        *_folded_histogram(
            folded,
            "scheduler_result_wait_seconds",
            "Accepted runs (target answered 202): from acceptance to the workflow's report,"
            " or to the timeout.",
            "result",
        ),
        *gauge(
            "scheduler_runs_awaiting_result",
            "Runs whose workflow has not reported yet"
            f" (status accepted); counted up to {COUNT_CAP}.",
            [("", numbers.awaiting_result)],
        ),
        *gauge(
            "scheduler_queue_depth",
            f"Procrastinate jobs waiting (todo) or running (doing); {COUNT_CAP} at most are"
            " counted.",
            (
                (f'queue="{q}",status="{st}"', n)
                for (q, st), n in sorted(numbers.queue_depth.items())
            ),
        ),
        *gauge(
            "scheduler_due_backlog",
            f"Active schedules more than 1 s past their fire instant; counted up to {COUNT_CAP}.",
            [("", numbers.due_backlog)],
        ),
        *gauge(
            "scheduler_schedules",
            "Schedules by state (estimated from planner statistics when the table is large).",
            (
                (f'state="{s}"', numbers.schedules_by_state.get(s, 0))
                for s in ("active", "paused", "ended")
            ),
        ),
        # Alert incidents (issue 12), from the folded statistics like the runs' counters.
        *counter(
            "scheduler_incidents_opened_total",
            "Alert incidents opened, by kind.",
            ((f'kind="{k}"', folded.get(("incident_opened", k), 0)) for k in KINDS),
        ),
        *gauge(
            "scheduler_incidents_open",
            "Alert incidents open now, by kind.",
            ((f'kind="{k}"', max(0, folded.get(("incident_open", k), 0))) for k in KINDS),
        ),
        *gauge(
            "scheduler_alert_deliveries_pending",
            "Alert deliveries not delivered yet (due or waiting for a retry); counted up to"
            f" {COUNT_CAP}.",
            [("", numbers.alert_outbox.pending)],
        ),
        *gauge(
            "scheduler_alert_delivery_overdue_seconds",
            "How long the most overdue pending alert delivery is past its next attempt: 0 while"
            " the workers' senders keep up.",
            [("", f"{numbers.alert_outbox.overdue_seconds:.3f}")],
        ),
        *_loops(numbers.loops),
    ]
    return "\n".join(lines) + "\n"
