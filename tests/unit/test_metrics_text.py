"""The Prometheus text of /metrics, rendered from fixed numbers (no database): the exact lines
the alert rules, the dashboard and promtool read (deploy/, tests/acceptance/
test_prometheus_deploy.py checks the whole against promtool)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from app.api.metrics_text import render
from app.domain.loop_health import LoopState, WorkerProcess
from app.services.metrics import DeploymentMetrics
from db.repositories.alert_deliveries import OutboxGauges

PROCESS = WorkerProcess(UUID(int=1), 'host"x', 123)
SUCCESS = datetime(2026, 1, 1, tzinfo=UTC)


def _numbers() -> DeploymentMetrics:
    folded = {
        ("finished", "succeeded"): 12,
        ("status", "running"): -2,  # a fold in flight may leave a negative: shown as 0
        ("lag_bucket", "0"): 5,
        ("lag_bucket", "7"): 2,
        ("lag_count", ""): 8,
        ("lag_sum_ms", ""): 1234,
        ("incident_opened", "run.failed"): 2,
    }
    loops = [
        LoopState(PROCESS, "dispatch", 30.0, 1.0, SUCCESS, 0, None, SUCCESS),
        LoopState(PROCESS, "fold\\n", 30.0, 100.0, None, 2, "x", SUCCESS),
    ]
    return DeploymentMetrics(
        folded=folded,
        queue_depth={("default", "todo"): 3},
        due_backlog=10_000,
        awaiting_result=7,
        schedules_by_state={"active": 5},
        loops=loops,
        alert_outbox=OutboxGauges(3, 1.23456),
    )


def test_families_and_samples() -> None:
    lines = render(_numbers()).splitlines()
    assert lines[:3] == [
        "# HELP scheduler_executions_finished_total Runs that reached a final status.",
        "# TYPE scheduler_executions_finished_total counter",
        'scheduler_executions_finished_total{status="succeeded"} 12',
    ]
    for expected in [
        'scheduler_executions{status="running"} 0',
        'scheduler_fire_lag_seconds_bucket{le="0.001"} 5',
        'scheduler_fire_lag_seconds_bucket{le="+Inf"} 8',
        "scheduler_fire_lag_seconds_sum 1.234",
        "scheduler_fire_lag_seconds_count 8",
        "scheduler_runs_awaiting_result 7",
        'scheduler_queue_depth{queue="default",status="todo"} 3',
        "scheduler_due_backlog 10000",
        'scheduler_schedules{state="paused"} 0',
        'scheduler_incidents_opened_total{kind="run.failed"} 2',
        "scheduler_alert_delivery_overdue_seconds 1.235",
        'scheduler_loop_last_success_timestamp_seconds{host="host\\"x",pid="123",loop="dispatch"}'
        " 1767225600.000",
        'scheduler_loop_stale{host="host\\"x",pid="123",loop="fold\\\\n"} 1',
    ]:
        assert expected in lines, expected


def test_every_sample_follows_its_help_and_type() -> None:
    text = render(_numbers())
    assert text.endswith("\n") and not text.endswith("\n\n")
    family = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            family = line.split()[2]
        elif line.startswith("# TYPE "):
            assert line.split()[2] == family
        else:
            assert family is not None and line.startswith(family), line
