"""Spans of the API and the workers, exported over OTLP; off unless the environment asks.

Contract:
- Tracing is on in a process once `setup` has seen `OTEL_EXPORTER_OTLP_ENDPOINT` (or
  `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set and `OTEL_SDK_DISABLED` not `true`. Then, and only
  then, OpenTelemetry is imported (app/otel.py, the `otel` extra); the rest of the code never
  imports it and sees only `TRACER` and the small interface below.
- Off, `TRACER` is None and a hot path pays one `is None` check: the executor, the
  dispatcher and the API call nothing of this module when it is None (`annotate` is the
  check itself).
- Spans: an API request (`asgi`), a dispatcher pass that claimed schedules (`record_pass`), an
  attempt of a run (`start_delivery`: the trace and span ids of the `traceparent` the attempt
  sends, app/domain/trace_context.py, so the target's spans are its children). Attributes name
  the schedule, tenant and slot (`scheduler.schedule_id`, `scheduler.tenant`,
  `scheduler.scheduled_at`).
- An API request under `/api/executions/{execution_id}/...` without a `traceparent` of its own
  joins the run's trace (a result report lands next to the attempts it reports on).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from app.domain.instants import format_instant
from app.domain.outcome import Outcome
from app.errors import ConfigError

Scope = MutableMapping[str, Any]
ASGIApp = Callable[..., Awaitable[None]]
"""(scope, receive, send): typed loosely, so that this module needs no web framework."""
Attributes = dict[str, str | int]


@dataclass(frozen=True, slots=True)
class RunRef:
    """The attempt a delivery span stands for."""

    execution_id: UUID
    schedule_id: UUID
    tenant: str | None
    scheduled_at: datetime
    workflow_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class DispatchPass:
    """What a dispatcher pass did (its span is recorded afterwards, only if it claimed any)."""

    start_ns: int
    end_ns: int
    claimed: int
    fired: int
    jobs: int


class AttemptSpan(Protocol):
    def finish(self, outcome: Outcome) -> None:
        """Record what the attempt came to and end the span."""


class Tracer(Protocol):
    def start_delivery(self, run: RunRef) -> AttemptSpan: ...

    def record_pass(self, stats: DispatchPass) -> None: ...

    def asgi(self, app: ASGIApp) -> ASGIApp: ...

    def annotate(self, attributes: Attributes) -> None:
        """Add attributes to the span of the current request (or task), if there is one."""

    def shutdown(self) -> None:
        """Export what is left and stop (blocks up to the exporter's timeout)."""


TRACER: Tracer | None = None
"""The process's tracer; None while tracing is off."""


def setup(service_name: str, environ: Mapping[str, str] | None = None) -> Tracer | None:
    """Turn tracing on if the environment asks for it (idempotent); returns the tracer.

    `service_name` is used unless `OTEL_SERVICE_NAME` names the service. The exporter reads
    its endpoint, headers, timeout and compression from the standard `OTEL_EXPORTER_OTLP_*`
    variables. Raises ConfigError when tracing is asked for but the `otel` extra is missing.
    """
    global TRACER
    env = os.environ if environ is None else environ
    if TRACER is not None or not enabled_by(env):
        return TRACER
    try:
        from app import otel
    except ImportError as exc:
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed ({exc.name}):"
            " install the extra (pip install 'workflow-scheduler[otel]') or unset the variable",
            field="OTEL_EXPORTER_OTLP_ENDPOINT",
        ) from None
    TRACER = otel.otlp_tracer(service_name)
    return TRACER


def enabled_by(environ: Mapping[str, str]) -> bool:
    """Whether these environment variables ask for spans to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    )


def install(tracer: Tracer | None) -> Tracer | None:
    """Set the process's tracer (tests: one over an in-memory exporter); returns the old one."""
    global TRACER
    old, TRACER = TRACER, tracer
    return old


def shutdown() -> None:
    """Flush and stop the tracer, if any (a process that ends)."""
    global TRACER
    tracer, TRACER = TRACER, None
    if tracer is not None:
        tracer.shutdown()


def annotate(
    *,
    tenant: str | None = None,
    schedule_id: UUID | None = None,
    scheduled_at: datetime | None = None,
    execution_id: UUID | None = None,
) -> None:
    """Name the run (or tenant) the current API request is about, on its span; nothing when
    tracing is off. A handler that learns which run a request concerns (a result report)
    calls this with what it knows."""
    if TRACER is None:
        return
    attributes: Attributes = {}
    if tenant is not None:
        attributes["scheduler.tenant"] = tenant
    if schedule_id is not None:
        attributes["scheduler.schedule_id"] = str(schedule_id)
    if scheduled_at is not None:
        attributes["scheduler.scheduled_at"] = format_instant(scheduled_at)
    if execution_id is not None:
        attributes["scheduler.execution_id"] = str(execution_id)
    TRACER.annotate(attributes)


def run_attributes(run: RunRef) -> Attributes:
    """The attributes of an attempt's span."""
    attributes: Attributes = {
        "scheduler.execution_id": str(run.execution_id),
        "scheduler.schedule_id": str(run.schedule_id),
        "scheduler.scheduled_at": format_instant(run.scheduled_at),
        "scheduler.workflow_id": run.workflow_id,
        "scheduler.attempt": run.attempt,
    }
    if run.tenant is not None:
        attributes["scheduler.tenant"] = run.tenant
    return attributes
