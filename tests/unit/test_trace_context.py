"""W3C `traceparent` of a delivery: one trace per run, one span per attempt, derived ids."""

from __future__ import annotations

import hashlib
import re
from uuid import UUID, uuid4

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from app.domain.trace_context import span_id, trace_id, traceparent
from tests.unit.test_delivery import delivery

# https://www.w3.org/TR/trace-context/#traceparent-header-field-values (version 00)
VERSION_00 = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-0[01]")


def test_every_delivery_carries_a_traceparent_of_its_run_and_attempt():
    first, second = delivery(attempt=1), delivery(attempt=2)
    assert VERSION_00.fullmatch(first.headers["traceparent"])
    run = "11111111222233334444555555555555"  # the execution id, without dashes
    assert first.headers["traceparent"].split("-")[1] == run
    assert second.headers["traceparent"].split("-")[1] == run
    assert first.headers["traceparent"] != second.headers["traceparent"]  # a span per attempt
    assert first.headers["traceparent"].endswith("-01")  # sampled


def test_the_span_id_is_sha256_of_execution_and_attempt():
    execution = UUID("11111111-2222-3333-4444-555555555555")
    digest = hashlib.sha256(execution.bytes + (7).to_bytes(8, "big")).hexdigest()
    assert f"{span_id(execution, 7):016x}" == digest[:16]


@given(st.uuids(), st.integers(min_value=1, max_value=10_000))
def test_a_standard_parser_reads_the_ids_back(execution: UUID, attempt: int):
    """OpenTelemetry's own W3C propagator (what a target's SDK runs) sees the same ids."""
    header = traceparent(execution, attempt)
    assert VERSION_00.fullmatch(header)
    context = TraceContextTextMapPropagator().extract({"traceparent": header})

    parent = trace.get_current_span(context).get_span_context()
    assert parent.is_valid and parent.is_remote
    assert (parent.trace_id, parent.span_id) == (trace_id(execution), span_id(execution, attempt))
    assert parent.trace_flags.sampled


def test_attempts_of_a_run_never_share_a_span():
    execution = uuid4()
    spans = {span_id(execution, n) for n in range(1, 1001)}
    assert len(spans) == 1000
