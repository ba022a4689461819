"""The lean HTTP/1.1 client against raw loopback servers that answer byte for byte what each
test needs: framings, interim answers, idle connections closed under us, hostile answers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from app.domain.outcome import PermanentDeliveryError
from worker.http.resolver import Resolver
from worker.http.wire import (
    CertificateRejected,
    InvalidURL,
    LocalProtocolError,
    RemoteProtocolError,
    ServerDisconnectedError,
    UnsupportedProtocol,
    WireClient,
    _interleaved,
    prepare,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """Counts connections and requests; each connection is served by `handler`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    def url(self, path: str = "/hook") -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}{path}"


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


def answering(*answers: bytes, then_close: bool = False) -> Handler:
    """Reads a request, writes the next answer (next across all connections); closes after
    the last one when asked."""
    queue = list(answers)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while queue:
            await read_request(reader)
            writer.write(queue.pop(0))
            await writer.drain()
        if not then_close:
            await reader.read()  # keep the connection until the client closes it

    return handler


def keep_answering(answer: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(answer)
            await writer.drain()

    return handler


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
async def client() -> AsyncIterator[WireClient]:
    wire = WireClient(keepalive_expiry=4.0, body_limit=1024)
    yield wire
    await wire.aclose()


def deadline(seconds: float = 5.0) -> float:
    return asyncio.get_running_loop().time() + seconds


# --- the request's bytes -----------------------------------------------------------------------


def test_prepare_writes_the_request_line_host_and_length():
    request = prepare("http://example.com:8080/a b/é?q=1 2#frag", {"X-A": "1"}, b"{}")
    assert request.origin == ("http", "example.com", 8080)
    assert request.data == (
        b"POST /a%20b/%C3%A9?q=1%202 HTTP/1.1\r\nHost: example.com:8080\r\n"
        b"Content-Length: 2\r\nX-A: 1\r\n\r\n{}"
    )


def test_prepare_keeps_escapes_and_default_ports_and_brackets_ipv6():
    assert prepare("https://h/x%2Fy", {}, b"").data.startswith(
        b"POST /x%2Fy HTTP/1.1\r\nHost: h\r\n"
    )
    ipv6 = prepare("http://[::1]:81", {}, b"")
    assert ipv6.origin == ("http", "::1", 81)
    assert b"\r\nHost: [::1]:81\r\n" in ipv6.data and ipv6.data.startswith(b"POST / HTTP")


def test_prepare_encodes_international_hosts():
    request = prepare("http://bücher.example/", {}, b"")
    assert request.origin[1] == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://h/x", UnsupportedProtocol),
        ("h/x", UnsupportedProtocol),
        ("http:///x", InvalidURL),
        ("http://h:99999/x", InvalidURL),
        ("http://[::1/x", InvalidURL),
    ],
)
def test_prepare_refuses_urls_no_retry_can_fix(url: str, error: type[Exception]):
    with pytest.raises(error) as raised:
        prepare(url, {}, b"")
    assert isinstance(raised.value, PermanentDeliveryError)  # the domain fails it at once


@pytest.mark.parametrize("url", ["http://u:p@h/x", "https://token@h/x", "http://@h/x"])
def test_prepare_refuses_credentials_in_the_url_rather_than_drop_them(url: str):
    with pytest.raises(InvalidURL, match="credentials in the URL"):
        prepare(url, {}, b"")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-A": "1\r\nX-Injected: yes"},
        {"X-A": "1\nX-Injected: yes"},
        {"X-A": "nul\0"},
        {"Bad Name": "1"},
        {"X-A": "snow ☃"},
        {"Host": "elsewhere"},
        {"content-length": "0"},
    ],
)
def test_prepare_refuses_headers_that_would_change_the_request(headers: dict[str, str]):
    with pytest.raises(LocalProtocolError):
        prepare("http://h/", headers, b"")


# --- answers -----------------------------------------------------------------------------------


async def test_keep_alive_reuses_one_connection(client: WireClient):
    async with RawServer(keep_answering(OK)) as server:
        for _ in range(3):
            answer = await client.request(prepare(server.url(), {}, b"x"), deadline())
            assert (answer.status, answer.body, answer.complete) == (200, b"ok", True)
    assert server.connections == 1


async def test_concurrent_requests_open_their_own_connections(client: WireClient):
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            await asyncio.sleep(0.1)
            writer.write(OK)

    async with RawServer(slow) as server:
        answers = await asyncio.gather(
            *(client.request(prepare(server.url(), {}, b""), deadline()) for _ in range(20))
        )
    assert [a.status for a in answers] == [200] * 20
    assert server.connections == 20


async def test_chunked_answer_and_headers_lower_cased_and_joined(client: WireClient):
    answer_bytes = (
        b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\nRetry-After: 7\r\n"
        b"X-Many: a\r\nx-many: b\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    async with RawServer(answering(answer_bytes, OK)) as server:
        answer = await client.request(prepare(server.url(), {}, b""), deadline())
        assert (answer.status, answer.body, answer.complete) == (503, b"hello world", True)
        assert answer.headers["retry-after"] == "7" and answer.headers["x-many"] == "a, b"
        # The connection is still good for the next request.
        assert (await client.request(prepare(server.url(), {}, b""), deadline())).status == 200
    assert server.connections == 1


async def test_trailer_fields_of_a_chunked_answer_are_ignored(client: WireClient):
    """llhttp reports trailers through on_header after the head: none may reach `headers`
    (a trailer Retry-After must not decide when to retry)."""
    answer_bytes = (
        b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\nTrailer: Retry-After\r\n\r\n"
        b"5\r\nhello\r\n0\r\nRetry-After: 3600\r\nX-Late: yes\r\n\r\n"
    )
    async with RawServer(answering(answer_bytes, OK)) as server:
        answer = await client.request(prepare(server.url(), {}, b""), deadline())
        assert (answer.status, answer.body, answer.complete) == (503, b"hello", True)
        assert "retry-after" not in answer.headers and "x-late" not in answer.headers
        assert answer.headers["trailer"] == "Retry-After"
        assert (await client.request(prepare(server.url(), {}, b""), deadline())).status == 200
    assert server.connections == 1


async def test_an_answer_delimited_by_close_is_complete(client: WireClient):
    async with RawServer(answering(b'HTTP/1.0 200 OK\r\n\r\n{"runId":1}', then_close=True)) as s:
        answer = await client.request(prepare(s.url(), {}, b""), deadline())
    assert (answer.status, answer.body, answer.complete) == (200, b'{"runId":1}', True)


async def test_connection_close_is_not_reused(client: WireClient):
    close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    async with RawServer(keep_answering(close)) as server:
        for _ in range(2):
            assert (await client.request(prepare(server.url(), {}, b""), deadline())).status == 200
    assert server.connections == 2


async def test_interim_100_continue_is_skipped(client: WireClient):
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    async with RawServer(answering(interim)) as server:
        answer = await client.request(prepare(server.url(), {}, b""), deadline())
    assert (answer.status, answer.headers) == (201, {"content-length": "0"})


async def test_a_body_over_the_limit_is_cut_and_its_connection_dropped(client: WireClient):
    big = b"HTTP/1.1 500 X\r\nContent-Length: 100000\r\n\r\n" + b"e" * 100_000
    async with RawServer(answering(big, OK)) as server:
        answer = await client.request(prepare(server.url(), {}, b""), deadline())
        assert (answer.status, len(answer.body), answer.complete) == (500, 1024, False)
        assert (await client.request(prepare(server.url(), {}, b""), deadline())).status == 200
    assert server.connections == 2


async def test_endless_headers_are_refused(client: WireClient):
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(20_000):
            writer.write(b"X-%d: %s\r\n" % (i, b"v" * 50))
            await writer.drain()

    async with RawServer(endless) as server:
        with pytest.raises(RemoteProtocolError, match="exceed 64 KiB"):
            await client.request(prepare(server.url(), {}, b""), deadline())


async def test_garbage_is_a_protocol_error_and_never_resent(client: WireClient):
    async with RawServer(keep_answering(b"SSH-2.0-OpenSSH\r\n\r\n")) as server:
        with pytest.raises(RemoteProtocolError, match="malformed answer"):
            await client.request(prepare(server.url(), {}, b""), deadline())
        # Reused connections that answer garbage are not resent either.
    assert server.connections == 1


async def test_a_closed_idle_connection_is_resent_once_on_a_new_one(client: WireClient):
    """The target answers with keep-alive, then silently drops the idle connection."""
    seen: list[bytes] = []

    async def once_then_drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await read_request(reader)
        seen.append(head)
        writer.write(OK)
        await writer.drain()
        await asyncio.sleep(0.05)  # ...then the server's idle timeout closes it

    async with RawServer(once_then_drop) as server:
        assert (await client.request(prepare(server.url(), {}, b""), deadline())).status == 200
        await asyncio.sleep(0.2)
        assert (await client.request(prepare(server.url(), {}, b""), deadline())).status == 200
    assert server.connections == 2 and len(seen) == 2


async def test_a_connection_dropped_after_the_request_without_an_answer_is_an_error(
    client: WireClient,
):
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with RawServer(drop) as server:
        with pytest.raises(ServerDisconnectedError):
            await client.request(prepare(server.url(), {}, b""), deadline())
    assert server.connections == 1  # a new connection is not resent to


async def test_no_answer_by_the_deadline_is_a_timeout(client: WireClient):
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(10)

    async with RawServer(silent) as server:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await client.request(prepare(server.url(), {}, b""), deadline(0.3))
        assert asyncio.get_running_loop().time() - started < 1.0


async def test_idle_connections_expire():
    wire = WireClient(keepalive_expiry=0.1)
    async with RawServer(keep_answering(OK)) as server:
        await wire.request(prepare(server.url(), {}, b""), deadline())
        await asyncio.sleep(0.3)
        await wire.request(prepare(server.url(), {}, b""), deadline())
    await wire.aclose()
    assert server.connections == 2


class SlowAnswers:
    """A handler that answers OK after `delay`, counting the most requests it held at once."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.in_flight = 0
        self.peak = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            await asyncio.sleep(self.delay)
            self.in_flight -= 1
            writer.write(OK)


async def test_max_connections_bounds_requests_in_flight():
    wire = WireClient(max_connections=3)
    slow = SlowAnswers(0.05)
    async with RawServer(slow) as server:
        await asyncio.gather(
            *(wire.request(prepare(server.url(), {}, b""), deadline()) for _ in range(12))
        )
    await wire.aclose()
    assert slow.peak == 3 and server.connections == 3


# --- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


async def tls_server(self_signed: tuple[Path, Path]) -> tuple[asyncio.Server, int]:
    """A loopback HTTPS server with the self-signed certificate, answering OK once."""
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await read_request(reader)
            writer.write(OK)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    return server, server.sockets[0].getsockname()[1]


async def test_https_verifies_the_certificate(client: WireClient, self_signed: tuple[Path, Path]):
    cert, _ = self_signed
    server, port = await tls_server(self_signed)
    try:
        with pytest.raises(ssl.SSLCertVerificationError) as raised:
            await client.request(prepare(f"https://127.0.0.1:{port}/", {}, b""), deadline())
        assert isinstance(raised.value, CertificateRejected)
        assert isinstance(raised.value, PermanentDeliveryError)  # failed at once, not retried
        assert "127.0.0.1" in str(raised.value)
        trusting = WireClient()
        trusting._ssl = ssl.create_default_context(cafile=str(cert))
        answer = await trusting.request(prepare(f"https://127.0.0.1:{port}/", {}, b""), deadline())
        assert (answer.status, answer.body) == (200, b"ok")
        await trusting.aclose()
    finally:
        server.close()


# --- Happy Eyeballs ------------------------------------------------------------------------------


class Blackhole:
    """A listening socket on 127.0.0.2 whose accept queue is full: Linux drops further SYNs,
    so a connection to it hangs (like an unroutable address) until the caller gives up."""

    def __init__(self, port: int) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.2", port))
        self.listener.listen(0)
        self.fillers: list[socket.socket] = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.2", port))
            self.fillers.append(filler)

    def close(self) -> None:
        for sock in (*self.fillers, self.listener):
            sock.close()


async def test_an_address_that_never_answers_costs_a_quarter_second_not_the_deadline():
    async with RawServer(keep_answering(OK)) as server:
        port = int(server.url().split(":")[2].split("/")[0])
        hole = Blackhole(port)
        # The hanging address first, as a resolver would list an unroutable IPv6 address.
        wire = WireClient(resolver=Resolver(lookup=lambda host: ["127.0.0.2", "127.0.0.1"]))
        try:
            started = asyncio.get_running_loop().time()
            answer = await wire.request(
                prepare(f"http://both.test:{port}/hook", {}, b""), deadline(5)
            )
            elapsed = asyncio.get_running_loop().time() - started
            assert answer.status == 200
            assert elapsed < 2.5  # tried in turn, it would wait out the 5 s deadline
        finally:
            await wire.aclose()
            hole.close()


async def test_every_address_failing_raises_the_failure():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nobody listens there once closed
    wire = WireClient(resolver=Resolver(lookup=lambda host: ["127.0.0.3", "127.0.0.4"]))
    try:
        with pytest.raises(ConnectionRefusedError):
            await wire.request(prepare(f"http://none.test:{port}/", {}, b""), deadline())
    finally:
        await wire.aclose()


def test_addresses_alternate_families_from_the_first_ones():
    assert _interleaved(["::1", "::2", "10.0.0.1", "10.0.0.2", "10.0.0.3"]) == [
        "::1",
        "10.0.0.1",
        "::2",
        "10.0.0.2",
        "10.0.0.3",
    ]
    assert _interleaved(["10.0.0.1", "::1"]) == ["10.0.0.1", "::1"]
