"""HttpTarget against real sockets on loopback: the recording target, and raw servers that
misbehave in ways no well-behaved framework would (trickling bytes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from app.domain.webhook import Delivery, build_delivery, target_url_for, verify_signature
from devtools.loopback import free_port
from tests.integration.test_wire import RawServer, answering, tls_server
from tests.integration.test_wire import self_signed as self_signed  # a fixture, reused
from tests.support.target import RecordingTarget, Response
from worker.http.target import HttpTarget

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMvMTIzNDU2Nzg5MA=="  # has a "/" and "="
SLOT = datetime(2026, 3, 8, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[RecordingTarget]:
    with RecordingTarget() as target:
        yield target


@pytest.fixture
def target(server: RecordingTarget) -> RecordingTarget:
    server.reset()
    return server


@pytest.fixture
async def http() -> AsyncIterator[HttpTarget]:
    client = HttpTarget()
    yield client
    await client.aclose()


def make(
    workflow_id: str, url_template: str, *, secret: str = SECRET, attempt: int = 1
) -> Delivery:
    return build_delivery(
        execution_id=uuid4(),
        trigger_id=UUID("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
        workflow_id=workflow_id,
        scheduled_at=SLOT,
        attempt=attempt,
        trigger="schedule",
        input={"k": "v"},
        url=target_url_for(workflow_id, None, url_template),
        secret=secret,
        timestamp=int(time.time()),
    )


async def test_success_with_a_run_id(target: RecordingTarget, http: HttpTarget):
    target.script("wf-ok", [Response(200, {"runId": "run-42"})])
    delivery = make("wf-ok", target.url_template())
    outcome = await http.send(delivery, 5)
    assert (outcome.kind, outcome.http_status, outcome.workflow_run_id) == (
        "succeeded",
        200,
        "run-42",
    )
    assert outcome.error is None
    assert 0 <= outcome.duration_ms < 5000
    [got] = target.requests("wf-ok")
    assert got.path == "/api/workflows/wf-ok/execute"
    assert got.body == delivery.body
    for name, value in delivery.headers.items():
        assert got.headers[name.lower()] == value
    assert got.headers["user-agent"] == "workflow-scheduler/0.1"
    assert got.headers["accept-encoding"] == "identity"  # no compressed answer to misread
    assert verify_signature(SECRET, got.headers, got.body, now=int(time.time()))


async def test_a_workflow_id_with_a_slash_stays_one_path_segment(
    target: RecordingTarget, http: HttpTarget
):
    outcome = await http.send(make("team/report", target.url_template()), 5)
    assert outcome.kind == "succeeded" and outcome.workflow_run_id is not None
    [got] = target.requests("team/report")
    assert got.workflow_id == "team/report"


async def test_503_is_retried_after_retry_after(target: RecordingTarget, http: HttpTarget):
    target.script("wf-busy", [Response(503, b"try later", {"Retry-After": "7"})])
    outcome = await http.send(make("wf-busy", target.url_template()), 5)
    assert (outcome.kind, outcome.http_status) == ("retry", 503)
    assert outcome.retry_after_seconds == 7.0
    assert outcome.error == "HTTP 503: try later"


async def test_retry_after_dates_use_the_injected_clock(target: RecordingTarget):
    client = HttpTarget(clock=lambda: datetime(2026, 3, 8, 8, 0, tzinfo=UTC))
    try:
        target.script(
            "wf-date", [Response(429, headers={"Retry-After": "Sun, 08 Mar 2026 08:02:00 GMT"})]
        )
        outcome = await client.send(make("wf-date", target.url_template()), 5)
    finally:
        await client.aclose()
    assert (outcome.kind, outcome.retry_after_seconds) == ("retry", 120.0)


async def test_a_slow_target_times_out_and_is_retried(target: RecordingTarget, http: HttpTarget):
    target.set_delay("wf-slow", 10)
    started = time.monotonic()
    outcome = await http.send(make("wf-slow", target.url_template()), 0.3)
    assert time.monotonic() - started < 2
    assert outcome.kind == "retry" and outcome.http_status is None
    assert outcome.error is not None
    assert "ReadTimeout" in outcome.error or "TimeoutError" in outcome.error
    assert len(target.requests("wf-slow")) == 1  # it was recorded before the delay


async def test_a_send_that_waits_out_its_origin_slot_is_a_retried_attempt(
    target: RecordingTarget,
):
    """Issue 10, H1: the wait for a slot ends at the attempt's deadline and says so."""
    client = HttpTarget(max_per_origin=1)
    target.set_delay("wf-slow", 10)
    try:
        held = asyncio.create_task(client.send(make("wf-slow", target.url_template()), 10))
        await target.wait_for_async(lambda got: len(got) == 1, timeout=5)
        outcome = await client.send(make("wf-next", target.url_template()), 0.3)
        held.cancel()
    finally:
        await client.aclose()
    assert (outcome.kind, outcome.http_status) == ("retry", None)
    assert outcome.error is not None and outcome.error.startswith("SlotTimeout: no connection")
    assert "SCHEDULER_ORIGIN_CONNECTIONS" in outcome.error
    assert target.requests("wf-next") == []


async def test_the_default_targets_origin_is_not_capped(target: RecordingTarget):
    client = HttpTarget(max_per_origin=1, uncapped_urls=[target.url_template()])
    target.set_delay("wf-a", 1.0)
    target.set_delay("wf-b", 1.0)
    try:
        outcomes = await asyncio.gather(  # capped, wf-b would wait 1 s for wf-a's slot
            client.send(make("wf-a", target.url_template()), 5),
            client.send(make("wf-b", target.url_template()), 1.6),
        )
    finally:
        await client.aclose()
    assert [o.kind for o in outcomes] == ["succeeded", "succeeded"]


async def test_connection_refused_is_retried(http: HttpTarget):
    url = f"http://127.0.0.1:{free_port()}/api/workflows/x/execute"
    outcome = await http.send(Delivery(url, {}, b"{}"), 5)
    assert outcome.kind == "retry" and outcome.http_status is None
    assert outcome.error is not None and outcome.error.startswith("ConnectionRefusedError: ")


async def test_an_unsupported_scheme_fails_at_once(http: HttpTarget):
    outcome = await http.send(Delivery("ftp://127.0.0.1/x", {}, b"{}"), 5)
    assert outcome.kind == "failed"
    assert outcome.error is not None and outcome.error.startswith("UnsupportedProtocol: ")


async def test_redirects_are_not_followed(target: RecordingTarget, http: HttpTarget):
    elsewhere = f"{target.url}/api/workflows/wf-elsewhere/execute"
    target.script("wf-moved", [Response(302, headers={"Location": elsewhere})])
    outcome = await http.send(make("wf-moved", target.url_template()), 5)
    assert (outcome.kind, outcome.http_status) == ("failed", 302)
    assert outcome.error == f"HTTP 302: redirects are not followed (Location: {elsewhere})"
    assert [r.workflow_id for r in target.received] == ["wf-moved"]


async def test_4xx_fails_at_once(target: RecordingTarget, http: HttpTarget):
    target.script("wf-bad", [Response(422, {"error": "input.k must be a number"})])
    outcome = await http.send(make("wf-bad", target.url_template()), 5)
    assert (outcome.kind, outcome.http_status) == ("failed", 422)
    assert outcome.error == 'HTTP 422: {"error": "input.k must be a number"}'


async def test_the_secret_never_reaches_the_error(target: RecordingTarget, http: HttpTarget):
    escaped = SECRET.replace("/", "\\/")
    echoes = [
        Response(500, f"Authorization: Bearer {SECRET}".encode()),
        Response(500, {"headers": {"authorization": f"Bearer {SECRET}"}}),
        Response(500, f'{{"auth":"Bearer {escaped}"}}'.encode()),
        Response(302, headers={"Location": f"https://x.test/?token={SECRET}"}),
    ]
    target.script("wf-echo", echoes)
    for _ in echoes:
        outcome = await http.send(make("wf-echo", target.url_template()), 5)
        assert outcome.error is not None
        assert SECRET not in outcome.error and SECRET[6:] not in outcome.error
        assert "[redacted]" in outcome.error


async def test_large_answers_are_cut(target: RecordingTarget, http: HttpTarget):
    target.script("wf-big", [Response(500, b"e" * 5_000_000), Response(200, b"o" * 5_000_000)])
    failed = await http.send(make("wf-big", target.url_template()), 5)
    assert failed.error == "HTTP 500: " + "e" * 2048
    ok = await http.send(make("wf-big", target.url_template()), 5)
    assert (ok.kind, ok.workflow_run_id) == ("succeeded", None)


async def test_200_concurrent_sends_complete(target: RecordingTarget, http: HttpTarget):
    target.set_delay("wf-many", 0.2)
    template = target.url_template()
    started = time.monotonic()
    outcomes = await asyncio.gather(*(http.send(make("wf-many", template), 10) for _ in range(200)))
    assert [o.kind for o in outcomes] == ["succeeded"] * 200
    assert len({o.workflow_run_id for o in outcomes}) == 200
    assert len(target.requests("wf-many")) == 200
    assert time.monotonic() - started < 8  # concurrent, not 200 × 0.2 s


async def test_aclose_then_send_opens_a_new_pool(target: RecordingTarget):
    client = HttpTarget()
    assert (await client.send(make("wf-a", target.url_template()), 5)).kind == "succeeded"
    await client.aclose()
    await client.aclose()  # idempotent
    assert (await client.send(make("wf-a", target.url_template()), 5)).kind == "succeeded"
    await client.aclose()


# --- targets that trickle ------------------------------------------------------------------------


async def _trickle_server(prefix: bytes, trickle: bytes) -> tuple[asyncio.Server, str]:
    """Answers with `prefix` at once, then one byte of `trickle` every 50 ms."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(prefix)
            for byte in trickle:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/api/workflows/t/execute"


async def test_a_target_trickling_its_headers_cannot_hold_the_attempt(http: HttpTarget):
    server, url = await _trickle_server(b"", b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 500)
    try:
        started = time.monotonic()
        outcome = await http.send(Delivery(url, {}, b"{}"), 0.5)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert elapsed < 1.5
    assert outcome.kind == "retry"
    assert outcome.error == "TimeoutError: no answer within 0.5 s"


async def test_a_2xx_whose_body_trickles_still_succeeded(http: HttpTarget):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    server, url = await _trickle_server(head, b'{"runId": "' + b"r" * 900)
    try:
        started = time.monotonic()
        outcome = await http.send(Delivery(url, {}, b"{}"), 0.5)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert elapsed < 1.5
    assert (outcome.kind, outcome.http_status, outcome.workflow_run_id) == ("succeeded", 200, None)


# --- the recording target itself -----------------------------------------------------------------


async def test_scripts_are_consumed_in_order_then_the_default(
    target: RecordingTarget, http: HttpTarget
):
    target.script("wf-s", [Response(503), Response(201, {"id": 9})])
    kinds = [(await http.send(make("wf-s", target.url_template()), 5)) for _ in range(3)]
    assert [(o.http_status, o.workflow_run_id) for o in kinds[:2]] == [(503, None), (201, "9")]
    assert kinds[2].http_status == 200 and kinds[2].workflow_run_id is not None
    assert [r.status for r in target.requests("wf-s")] == [503, 201, 200]


async def test_wait_for_async_and_its_timeout_summary(target: RecordingTarget, http: HttpTarget):
    task = asyncio.create_task(http.send(make("wf-w", target.url_template()), 5))
    got = await target.wait_for_async(lambda rs: len(rs) == 1, timeout=5)
    assert got[0].json()["workflowId"] == "wf-w"
    await task
    with pytest.raises(AssertionError, match=r"1 request\(s\) received"):
        await target.wait_for_async(lambda rs: len(rs) == 2, timeout=0.05)


def test_wait_for_raises_with_a_summary_on_timeout(target: RecordingTarget):
    with pytest.raises(AssertionError, match=r"within 0.05 s; 0 request"):
        target.wait_for(lambda rs: bool(rs), timeout=0.05)


def test_stop_does_not_wait_out_a_pending_delay():
    import threading

    import httpx

    with RecordingTarget() as target:
        target.set_delay("wf-hold", 60)
        url = target_url_for("wf-hold", None, target.url_template())
        errors: list[BaseException] = []

        def call() -> None:
            try:
                httpx.post(url, content=b"{}", timeout=30)
            except httpx.HTTPError as exc:
                errors.append(exc)

        caller = threading.Thread(target=call, daemon=True)
        caller.start()
        target.wait_for(lambda rs: len(rs) == 1, timeout=5)
        started = time.monotonic()
    assert time.monotonic() - started < 5
    caller.join(timeout=5)
    assert not caller.is_alive()


async def test_a_retry_after_in_a_chunked_answers_trailer_is_not_honoured(http: HttpTarget):
    answer = (
        b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nbusy\r\n0\r\nRetry-After: 3600\r\n\r\n"
    )
    async with RawServer(answering(answer)) as server:
        outcome = await http.send(Delivery(server.url(), {}, b"{}"), 5)
    assert (outcome.kind, outcome.http_status, outcome.error) == ("retry", 503, "HTTP 503: busy")
    assert outcome.retry_after_seconds is None  # the backoff decides, not a trailer


async def test_a_certificate_that_does_not_verify_fails_at_once(
    http: HttpTarget, self_signed: tuple[Path, Path]
):
    server, port = await tls_server(self_signed)
    try:
        outcome = await http.send(Delivery(f"https://127.0.0.1:{port}/x", {}, b"{}"), 5)
    finally:
        server.close()
    assert outcome.kind == "failed"  # not retried: every attempt would meet the same certificate
    assert outcome.error is not None
    assert outcome.error.startswith("CertificateRejected: the certificate of 127.0.0.1")
