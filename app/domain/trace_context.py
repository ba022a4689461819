"""W3C Trace Context ids of a run and its attempts. Pure: derived, never stored, never random.

Contract:
- A run (an execution) is one trace: its `trace_id` is the execution id's 128 bits, so every
  attempt of the run, sent by any worker, after any crash or recovery, is in the same trace,
  and anyone holding the execution id holds the trace id (the hex string without dashes).
- Each attempt is one span: its `span_id` is the first 64 bits of SHA-256 over the execution
  id and the attempt number. The worker's span of the attempt (app/otel.py) uses exactly these
  ids, so the target's spans, children of the `traceparent` it received, join it.
- `traceparent` is version 00 with the `sampled` flag set: the run is worth recording, and a
  target that samples by its parent keeps it.

Why derived rather than random span ids: the request is built (and signed) in the pure domain,
which draws no random numbers; the span id of attempt N can be recomputed from the execution
row alone (id, attempts) to find that attempt's spans, with nothing stored; and no two attempts
of a run share a span id, since every claim of a run counts a new attempt.
"""

from __future__ import annotations

import hashlib
from uuid import UUID

TRACEPARENT_VERSION = "00"
SAMPLED = "01"


def trace_id(execution_id: UUID) -> int:
    """The run's trace id: the execution id's 128 bits (a UUID is never all zeros)."""
    return execution_id.int


def span_id(execution_id: UUID, attempt: int) -> int:
    """Attempt number `attempt`'s span id: 64 bits of SHA-256, never zero (invalid in W3C)."""
    return int.from_bytes(_span_bytes(execution_id, attempt), "big")


def _span_bytes(execution_id: UUID, attempt: int) -> bytes:
    span = hashlib.sha256(execution_id.bytes + attempt.to_bytes(8, "big")).digest()[:8]
    return span if any(span) else (1).to_bytes(8, "big")


def traceparent(execution_id: UUID, attempt: int) -> str:
    """The `traceparent` header of one attempt: `00-<32 hex trace>-<16 hex span>-01`. The ids'
    bytes as hex, the same digits as the integers' (a header is built for every request)."""
    return (
        f"{TRACEPARENT_VERSION}-{execution_id.hex}-"
        f"{_span_bytes(execution_id, attempt).hex()}-{SAMPLED}"
    )
