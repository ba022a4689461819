"""What building one delivery costs, with and without its `traceparent` header.

    .venv/bin/python -m bench.delivery_build

Prints µs per `build_delivery` call (best of 5 runs of 20,000) and per `traceparent` alone.
"""

from __future__ import annotations

import timeit
from datetime import UTC, datetime
from uuid import uuid4

from app.domain import delivery
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
    with_header = best_us(lambda: delivery.build_delivery(**ARGS))  # type: ignore[arg-type]
    header_alone = best_us(lambda: traceparent(ARGS["execution_id"], 1))  # type: ignore[arg-type]
    print(f"build_delivery (with traceparent): {with_header:.2f} µs")
    print(f"traceparent alone:                 {header_alone:.2f} µs")
    print(f"build_delivery without it (est.):  {with_header - header_alone:.2f} µs")


if __name__ == "__main__":
    main()
