"""Traces (issue 14): every attempt's span carries the ids of the `traceparent` the target
received; API requests are spans; nothing of OpenTelemetry is loaded while tracing is off.

Real parts throughout: a real dispatcher and executor on the test database sending to a loopback
target, a real API server, and a real worker process exporting over OTLP/HTTP to a loopback
collector. In-process spans are caught by the SDK's InMemorySpanExporter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from psycopg.rows import dict_row

from app import otel, tracing
from app.services.schedules import ScheduleService
from app.settings import Settings
from db.pool import create_pool
from tests.support.db import create_schedule, executions, half_past_a_minute
from tests.support.executor import open_executor
from tests.support.otlp_collector import OtlpCollector
from tests.support.server import make_token, running_api
from tests.support.target import RecordingTarget, Response
from tests.support.workers import TEST_SECRET, WorkerProcess
from worker.dispatcher import Dispatcher


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process, every span kept in memory; off again afterwards."""
    exporter = InMemorySpanExporter()
    tracer = otel.exporting_to(exporter)
    previous = tracing.install(tracer)
    yield exporter
    tracing.install(previous)
    tracer.shutdown()


def _ids(traceparent: str) -> tuple[str, str]:
    version, trace_id, span_id, flags = traceparent.split("-")
    assert (version, flags) == ("00", "01")
    return trace_id, span_id


def _hex(span: Any) -> tuple[str, str]:
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


async def test_each_attempt_is_a_span_with_the_ids_its_traceparent_sent(
    database_url: str, target: RecordingTarget, spans: InMemorySpanExporter
) -> None:
    target.script("wf-traced", [Response(503, headers={"Retry-After": "0"}), Response(200)])
    created_at = half_past_a_minute()
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        schedule = await ScheduleService(conn, "acme", clock=lambda: created_at).create(  # type: ignore[arg-type]
            {"workflow_id": "wf-traced", "cron_expression": "0 * * * * *", "max_attempts": 3}
        )
    pool = create_pool(database_url, min_size=1, max_size=2, name="test-tracing")
    await pool.open()
    try:
        await Dispatcher(pool).run_once(created_at + timedelta(seconds=61))  # one slot due
    finally:
        await pool.close()
    (run,) = executions(database_url, schedule.id)
    async with open_executor(database_url, target.url_template(), "test-tracing") as executor:
        await executor.run_batch([run["id"]])  # 503, retried at once (Retry-After: 0)
        await executor.run_batch([run["id"]])  # 200

    sent = [_ids(r.headers["traceparent"]) for r in target.requests("wf-traced")]
    finished = spans.get_finished_spans()
    deliveries = sorted(
        (s for s in finished if s.name == "delivery"),
        key=lambda s: s.attributes["scheduler.attempt"],  # type: ignore[index]
    )
    assert [_hex(s) for s in deliveries] == sent
    assert len(sent) == 2 and sent[0][0] == sent[1][0] == run["id"].hex  # one trace per run
    assert sent[0][1] != sent[1][1]  # a span per attempt
    first, second = deliveries
    assert first.parent is None and second.parent is None
    assert dict(first.attributes or {}) == {
        "scheduler.execution_id": str(run["id"]),
        "scheduler.schedule_id": str(schedule.id),
        "scheduler.tenant": "acme",
        "scheduler.scheduled_at": run["scheduled_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "scheduler.workflow_id": "wf-traced",
        "scheduler.attempt": 1,
        "scheduler.outcome": "retry",
        "http.response.status_code": 503,
    }
    assert first.status.status_code is StatusCode.ERROR
    assert second.attributes["scheduler.outcome"] == "succeeded"  # type: ignore[index]
    assert second.status.status_code is StatusCode.UNSET
    (dispatch,) = [s for s in finished if s.name == "dispatch.pass"]
    assert dispatch.attributes["scheduler.claimed"] == 1  # type: ignore[index]


def test_api_requests_are_spans_and_a_run_s_requests_join_its_trace(
    database_url: str, settings: Settings, spans: InMemorySpanExporter
) -> None:
    token = make_token(database_url, "acme")
    with (
        running_api(settings) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client,
    ):
        schedule = client.post(
            "/api/schedules", json={"workflowId": "wf-api", "cronExpression": "0 0 1 1 *"}
        ).json()
        execution = client.post(f"/api/schedules/{schedule['id']}/trigger").json()
        assert client.get(f"/api/executions/{execution['id']}").status_code == 200
        caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        client.get(f"/api/executions/{execution['id']}", headers={"traceparent": caller})
        assert client.get("/api/schedules/not-a-uuid").status_code in (400, 404, 422)

    requests = [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"]
    by_route = {
        (s.attributes["http.request.method"], s.attributes["http.route"]): s for s in requests
    }  # type: ignore[index]
    created = by_route["POST", "/api/schedules"]
    assert created.attributes["http.response.status_code"] == 201  # type: ignore[index]
    assert created.attributes["scheduler.tenant"] == "acme"  # type: ignore[index]
    triggered = next(s for s in requests if s.name.endswith("/trigger"))
    assert triggered.attributes["scheduler.schedule_id"] == schedule["id"]  # type: ignore[index]
    reads = [s for s in requests if s.attributes.get("scheduler.execution_id") == execution["id"]]  # type: ignore[union-attr]
    alone, propagated = reads
    # No traceparent: the request joins the run's trace (a result report lands beside its run).
    assert _hex(alone)[0] == UUID(execution["id"]).hex and alone.parent is None
    # A traceparent: the caller's trace wins, and the request is a child of its span.
    assert _hex(propagated)[0] == "0af7651916cd43dd8448eb211c80319c"
    assert propagated.parent is not None
    assert f"{propagated.parent.span_id:016x}" == "b7ad6b7169203331"


def test_a_worker_process_exports_its_spans_over_otlp(
    database_url: str, target: RecordingTarget, start_worker: Callable[..., WorkerProcess]
) -> None:
    """`OTEL_EXPORTER_OTLP_ENDPOINT` alone turns tracing on in a real worker: its delivery
    spans reach a collector with the ids the target received in `traceparent`."""
    with OtlpCollector() as collector:
        worker = start_worker(
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint, OTEL_BSP_SCHEDULE_DELAY="100"
        )
        schedule = create_schedule(
            database_url, workflow_id="wf-otlp", cron_expression="* * * * * *"
        )
        got = target.wait_for(lambda r: len(r) >= 2, timeout=20)[:2]
        sent = {_ids(r.headers["traceparent"]) for r in got}

        def delivered(exported: list[Any]) -> bool:
            return sent <= {(s.trace_id, s.span_id) for s in exported if s.name == "delivery"}

        exported = collector.wait_for(delivered, timeout=15)
        worker.stop()
    for request in got:
        trace_id, span_id = _ids(request.headers["traceparent"])
        (span,) = [s for s in exported if (s.trace_id, s.span_id) == (trace_id, span_id)]
        body = request.json()
        assert trace_id == UUID(body["executionId"]).hex
        assert span.service == "workflow-scheduler-worker"
        assert span.attributes["scheduler.schedule_id"] == str(schedule.id)
        assert span.attributes["scheduler.tenant"] == "acme"
        assert span.attributes["scheduler.scheduled_at"] == body["scheduledAt"]
    assert any(s.name == "dispatch.pass" for s in exported)


PROBE = """
import sys
from app import tracing
from app.api.app import create_app
from app.settings import load_settings
import worker.app

tracing.setup("probe")
create_app(load_settings())
print(" ".join(sorted(m for m in sys.modules if m.startswith(LOADED))))
"""
# Litestar probes for its own OpenTelemetry plugin whenever an app is built and, with the
# `otel` extra installed, imports `opentelemetry.semconv` (constants) on the way: not ours,
# and nothing that traces. What must stay out is the SDK, the API's tracer and our module.
LOADED = ("app.otel", "opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.trace")


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:9"])
def test_opentelemetry_is_imported_only_when_the_endpoint_is_set(
    database_url: str, endpoint: str | None
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {"DATABASE_URL": database_url, "INTERNAL_API_SECRET": TEST_SECRET}
    if endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    probe = subprocess.run(
        [sys.executable, "-c", f"LOADED = {LOADED!r}\n{PROBE}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    loaded = probe.stdout.split()
    if endpoint:
        assert "app.otel" in loaded and "opentelemetry.sdk.trace" in loaded
    else:
        assert loaded == []


def test_tracing_asked_for_without_the_extra_refuses_to_start(
    database_url: str, tmp_path: Any
) -> None:
    """A worker told to export spans, on an install without the `otel` extra, stops at once
    and says what to install, rather than run without the traces it was asked for."""
    missing = tmp_path / "opentelemetry"
    missing.mkdir()  # shadows the installed package: `import opentelemetry.trace` fails
    (missing / "__init__.py").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {
        "DATABASE_URL": database_url,
        "INTERNAL_API_SECRET": TEST_SECRET,
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        "PYTHONPATH": str(tmp_path),
    }
    worker = subprocess.run(
        [sys.executable, "-m", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert worker.returncode == 2, worker.stderr
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in worker.stderr
    assert "workflow-scheduler[otel]" in worker.stderr
