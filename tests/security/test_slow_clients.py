"""M8: slow clients cannot hold the API's connections. A connection has
API_HEAD_TIMEOUT_SECONDS to deliver a request head, however it trickles the bytes; past
API_MAX_CONNECTIONS a new connection is answered 503 with Retry-After and closed; the 256 KiB
head buffer that lets a long query parameter reach the app (422) stays."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit

import httpx
import pytest

from tests.security.conftest import security_settings
from tests.support.db import wait_until
from tests.support.server import make_token, running_api


def _connect(api_url: str) -> socket.socket:
    parts = urlsplit(api_url)
    assert parts.hostname and parts.port
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """Whether the server closed `sock` before `deadline` (any bytes it sent are skipped)."""
    sock.settimeout(0.1)
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True
    return False


@pytest.fixture
def slow_api(database_url: str) -> Iterator[str]:
    settings = security_settings(database_url, api_head_timeout_seconds=1, api_max_connections=4)
    with running_api(settings) as url:
        yield url


def test_a_trickled_head_is_cut_at_the_deadline(slow_api: str) -> None:
    with _connect(slow_api) as sock:
        opened = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: api\r\n")
        sent, closed = 0, False
        deadline = opened + 15  # the wait's own limit; the server's deadline is 1 s
        while not closed and time.monotonic() < deadline:
            try:
                sock.sendall(b"X-Slow: a\r\n")  # a header line every 0.2 s, never the end
                sent += 1
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            closed = _closed_by_server(sock, time.monotonic() + 0.2)
        lived = time.monotonic() - opened
    assert closed, f"the trickling connection was still open after {lived:.1f} s"
    assert lived >= 0.9 and sent >= 4, (lived, sent)  # it was sending all along, not cut early


def test_an_idle_connection_is_closed_and_keep_alive_still_works(slow_api: str) -> None:
    with _connect(slow_api) as sock:
        assert _closed_by_server(sock, time.monotonic() + 15)  # never sent a byte
    with httpx.Client(base_url=slow_api, timeout=10) as http:  # one connection, reused
        for _ in range(5):
            assert http.get("/health").status_code == 200


def test_the_deadline_covers_the_head_not_a_slow_body(slow_api: str, database_url: str) -> None:
    """An authenticated request whose body arrives after the head deadline is still served."""
    token = make_token(database_url, "acme")
    body = b'{"workflowId": "slow", "cronExpression": "0 6 * * *"}'
    with _connect(slow_api) as sock:
        sock.sendall(
            b"POST /api/schedules HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        time.sleep(1.5)  # the slow part of the scenario: past the 1 s head deadline
        sock.sendall(body[10:])
        sock.settimeout(10)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:200]


def test_connections_past_the_limit_are_refused(slow_api: str) -> None:
    with ExitStack() as held:
        idle = [held.enter_context(_connect(slow_api)) for _ in range(4)]  # the limit
        with _connect(slow_api) as extra:
            answer = b""
            while not answer.endswith(b"}"):
                chunk = extra.recv(65536)
                if not chunk:
                    break
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 503 "), answer
            assert b"Retry-After: 1" in answer and b'"error": "too_many_connections"' in answer
            assert _closed_by_server(extra, time.monotonic() + 10)
        idle[0].close()
    # Room again once connections close (also the idle ones the head deadline ends).
    with httpx.Client(base_url=slow_api, timeout=10) as http:
        wait_until(lambda: http.get("/health").status_code == 200, 15, "a connection slot")


def test_long_query_parameters_still_reach_the_app(slow_api: str, database_url: str) -> None:
    """A 200 KB query, sent in pieces as a slow link would, within the head deadline: 422."""
    token = make_token(database_url, "acme")
    head = (
        f"GET /api/schedules?workflowId={'w' * 200_000} HTTP/1.1\r\nHost: api\r\n"
        f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    ).encode()
    with _connect(slow_api) as sock:
        for start in range(0, len(head), 16_384):
            sock.sendall(head[start : start + 16_384])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 422 "), answer[:300]
    assert b'"field":"workflowId"' in answer.replace(b" ", b""), answer[-300:]
