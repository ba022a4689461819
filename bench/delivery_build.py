"""What tracing costs an attempt: the `traceparent` header, and a span when tracing is on.

    .venv/bin/python -m bench.delivery_build

Prints µs per call (best of 5 runs of 20,000): `build_delivery` (which always adds the
header), `traceparent` alone, the executor's check while tracing is off, and an attempt's span
(start + finish, queued to a BatchSpanProcessor whose exporter drops everything) while it is on.
"""

from __future__ import annotations

import timeit
from datetime import UTC, datetime
from uuid import uuid4

from app import tracing
from app.domain import outcome as outcomes
from app.domain import webhook
from app.domain.trace_context import traceparent

ARGS = {
    "execution_id": uuid4(),
    "trigger_id": uuid4(),
    "workflow_id": "wf-1",
    "scheduled_at": datetime(2026, 3, 8, 8, 0, tzinfo=UTC),
    "attempt": 1,
    "trigger": "schedule",
    "input": {"a": 1, "name": "Zoë"},
    "url": "http://127.0.0.1:3000/api/workflows/wf-1/execute",
    "secret": "s3cret-value-long-enough",
    "timestamp": 1_772_956_805,
}
N = 20_000


def best_us(statement: object) -> float:
    return min(timeit.repeat(statement, number=N, repeat=5)) / N * 1e6  # type: ignore[arg-type]


def main() -> None:
    with_header = best_us(lambda: webhook.build_delivery(**ARGS))  # type: ignore[arg-type]
    header_alone = best_us(lambda: traceparent(ARGS["execution_id"], 1))  # type: ignore[arg-type]
    print(f"build_delivery (with traceparent): {with_header:.2f} µs")
    print(f"traceparent alone:                 {header_alone:.2f} µs")
    print(f"build_delivery without it (est.):  {with_header - header_alone:.2f} µs")
    off = best_us(lambda: tracing.TRACER is None)
    print(f"tracing off, per attempt:          {off * 1000:.0f} ns (the `is None` check)")
    print(f"tracing on, per attempt's span:    {span_cost():.2f} µs")


def span_cost() -> float:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from app.otel import OtelTracer

    class Drop(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer = OtelTracer("bench", BatchSpanProcessor(Drop()))
    run = tracing.RunRef(
        ARGS["execution_id"],  # type: ignore[arg-type]
        ARGS["trigger_id"],  # type: ignore[arg-type]
        "acme",
        ARGS["scheduled_at"],  # type: ignore[arg-type]
        "wf-1",
        1,
    )
    outcome = outcomes.Outcome("succeeded", 200, None, "run-1", None, 3)
    try:
        return best_us(lambda: tracer.start_delivery(run).finish(outcome))
    finally:
        tracer.shutdown()


if __name__ == "__main__":
    main()
