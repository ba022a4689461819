"""The OpenTelemetry side of app/tracing.py. Imported only when tracing is on (`otel` extra).

Every use of the OpenTelemetry SDK is here. Spans go through a `BatchSpanProcessor` (a
background thread exports them; the event loop only queues a finished span) to the OTLP/HTTP
protobuf exporter, configured by the standard `OTEL_*` variables.

An attempt's span must carry the ids of the `traceparent` the attempt sends, which are derived
from the run (app/domain/trace_context.py), not drawn by the SDK: `_DerivedIds` hands the SDK
those ids for a span started inside `_ids(...)`, and random ones otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from app.domain.outcome import Outcome
from app.domain.trace_context import span_id, trace_id
from app.tracing import ASGIApp, Attributes, DispatchPass, RunRef, Scope, run_attributes

INSTRUMENTATION = "workflow-scheduler"
MAX_STATUS_CHARS = 256
"""An error text can hold 2 KiB of a target's answer; a span's status needs its gist."""
_PRESET: ContextVar[tuple[int, int | None] | None] = ContextVar("otel_preset_ids", default=None)
_PROPAGATOR = TraceContextTextMapPropagator()


class _DerivedIds(RandomIdGenerator):
    """Random ids, except for a root span started inside `_ids(...)`."""

    def generate_trace_id(self) -> int:
        preset = _PRESET.get()
        return preset[0] if preset else super().generate_trace_id()

    def generate_span_id(self) -> int:
        preset = _PRESET.get()
        return preset[1] if preset and preset[1] else super().generate_span_id()


@contextmanager
def _ids(trace: int, span: int | None = None) -> Iterator[None]:
    token = _PRESET.set((trace, span))
    try:
        yield
    finally:
        _PRESET.reset(token)


def otlp_tracer(service_name: str) -> OtelTracer:
    """The tracer of a process that exports over OTLP/HTTP (`OTEL_EXPORTER_OTLP_*`)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OtelTracer(service_name, BatchSpanProcessor(OTLPSpanExporter()))


def exporting_to(exporter: SpanExporter, service_name: str = "test") -> OtelTracer:
    """A tracer that hands every span to `exporter` as it ends (tests: an in-memory one)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    return OtelTracer(service_name, SimpleSpanProcessor(exporter))


class _Attempt:
    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def finish(self, outcome: Outcome) -> None:
        span = self.span
        span.set_attribute("scheduler.outcome", outcome.kind)
        if outcome.http_status is not None:
            span.set_attribute("http.response.status_code", outcome.http_status)
        if outcome.workflow_run_id is not None:
            span.set_attribute("scheduler.workflow_run_id", outcome.workflow_run_id)
        if outcome.kind != "succeeded":
            span.set_status(Status(StatusCode.ERROR, (outcome.error or "")[:MAX_STATUS_CHARS]))
        span.end()


class OtelTracer:
    """`app.tracing.Tracer` over the OpenTelemetry SDK."""

    def __init__(self, service_name: str, processor: SpanProcessor) -> None:
        name = os.environ.get("OTEL_SERVICE_NAME") or service_name
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": name}), id_generator=_DerivedIds()
        )
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer(INSTRUMENTATION)

    def start_delivery(self, run: RunRef) -> _Attempt:
        """A root span in the run's trace whose span id is the attempt's traceparent's."""
        with _ids(trace_id(run.execution_id), span_id(run.execution_id, run.attempt)):
            span = self.tracer.start_span(
                "delivery",
                context=Context(),
                kind=SpanKind.CLIENT,
                attributes=run_attributes(run),
            )
        return _Attempt(span)

    def record_pass(self, stats: DispatchPass) -> None:
        span = self.tracer.start_span(
            "dispatch.pass",
            context=Context(),
            start_time=stats.start_ns,
            attributes={
                "scheduler.claimed": stats.claimed,
                "scheduler.fired": stats.fired,
                "scheduler.jobs": stats.jobs,
            },
        )
        span.end(end_time=stats.end_ns)

    def annotate(self, attributes: Attributes) -> None:
        trace.get_current_span().set_attributes(attributes)

    def asgi(self, app: ASGIApp) -> ASGIApp:
        """ASGI middleware: a SERVER span per HTTP request, child of the caller's
        `traceparent` if it sent one. Litestar runs it after routing, so the span is named
        by the route's template and knows its path parameters."""
        tracer = self.tracer

        async def traced(scope: Scope, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            parent = _PROPAGATOR.extract(carrier)
            route = scope.get("path_template") or scope["path"]
            attributes = _request_attributes(scope, route)
            joins: int | None = None
            if not trace.get_current_span(parent).get_span_context().is_valid:
                execution = scope.get("path_params", {}).get("execution_id")
                joins = trace_id(execution) if isinstance(execution, UUID) else None
            status: list[int] = []

            async def send_status(message: Any) -> None:
                if message["type"] == "http.response.start":
                    status.append(message["status"])
                await send(message)

            with _ids(joins) if joins else nullcontext():
                span = tracer.start_span(
                    f"{scope['method']} {route}",
                    context=parent,
                    kind=SpanKind.SERVER,
                    attributes=attributes,
                )
            with trace.use_span(span, end_on_exit=True):
                await app(scope, receive, send_status)
                if status:
                    span.set_attribute("http.response.status_code", status[0])
                    if status[0] >= 500:
                        span.set_status(Status(StatusCode.ERROR))

        return traced

    def shutdown(self) -> None:
        self.provider.shutdown()


def _request_attributes(scope: Scope, route: str) -> Attributes:
    attributes: Attributes = {
        "http.request.method": scope["method"],
        "http.route": route,
        "url.path": scope["path"],
    }
    params = scope.get("path_params", {})
    for name in ("schedule_id", "execution_id"):
        if isinstance(value := params.get(name), UUID):
            attributes[f"scheduler.{name}"] = str(value)
    return attributes
