"""How uvicorn serves the API, in `scheduler api` and in the tests alike: `server_options`.

Slow clients (security review M8). uvicorn has no deadline on receiving a request head: its
keep-alive timer restarts with every byte, so a client trickling one header byte every few
seconds holds its connection, and up to the head buffer of memory, for ever. The head buffer
must stay large (256 KiB, see `MAX_HEAD_BYTES`), so what bounds a trickling connection here is
time and number:

- each connection gets `API_HEAD_TIMEOUT_SECONDS` to deliver a complete request head, counted
  from when the server starts waiting for it (the connection opened, or the previous response
  finished); bytes arriving meanwhile do not extend it. Past it the connection is closed.
- at most `API_MAX_CONNECTIONS` connections are open at once; one more is answered 503 with
  Retry-After and closed at once, before any of its bytes are read.

So anonymous clients can hold at most `API_MAX_CONNECTIONS × MAX_HEAD_BYTES` of head buffers,
each for at most `API_HEAD_TIMEOUT_SECONDS`. The body of an authenticated request is not under
the head deadline (a large body on a slow link is legitimate); an anonymous one is never read
(app/api/body.py `authenticate_before_body`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from app.settings import Settings

MAX_HEAD_BYTES = 256 * 1024
"""h11 refuses a request head it holds incomplete past 16 KiB by default, which made the same
long query reach the app or not depending on how the socket reads split it. Up to 256 KiB the
app answers (a 422 naming the parameter); past it, a 400 from the HTTP layer."""

REFUSED_RETRY_AFTER_SECONDS = 1


def _refusal() -> bytes:
    body = json.dumps(
        {
            "error": "too_many_connections",
            "message": "the server has too many open connections; retry in "
            f"{REFUSED_RETRY_AFTER_SECONDS} s",
            "errors": [],
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        f"Retry-After: {REFUSED_RETRY_AFTER_SECONDS}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


REFUSAL = _refusal()


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline and a connection cap.

    It relies on three points of uvicorn's H11Protocol (checked by
    tests/security/test_slow_clients.py): `connection_made` adds the connection to the shared
    `connections` set, `handle_events` creates a new `cycle` for each complete request head, and
    `on_response_complete` runs when a response is sent (and handles a pipelined request).
    """

    head_timeout: float = 10.0
    max_connections: int = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._refused = True
            transport.write(REFUSAL)
            transport.close()
            return
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a complete request head arrived: it is being served
            self._cancel_head_deadline()

    def on_response_complete(self) -> None:
        # Armed before uvicorn looks at a pipelined request, which cancels it again.
        if not self.transport.is_closing():
            self._await_head()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def bounded_protocol(head_timeout: float, max_connections: int) -> type[BoundedH11Protocol]:
    """The protocol class with these limits (uvicorn builds one instance per connection)."""
    return type(
        "ApiH11Protocol",
        (BoundedH11Protocol,),
        {"head_timeout": head_timeout, "max_connections": max_connections},
    )


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for the API (besides app, host and port)."""
    return {
        "log_config": None,  # our logging (app/logging.py), with its redaction filter
        "access_log": False,
        # h11, not httptools (which uvicorn would pick, since the worker depends on it):
        # httptools refuses a request line over ~80 KiB with a bare "400 Invalid HTTP request
        # received.", while h11 lets such a request reach the app, which answers 422 naming the
        # parameter. h11 costs some latency on large list pages (docs/benchmarks.md, "Results
        # of the last full run", API p99).
        # Our subclass adds the head deadline and the connection cap.
        "http": bounded_protocol(settings.api_head_timeout_seconds, settings.api_max_connections),
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        # X-Forwarded-Proto/-For are believed only from these addresses (the TLS-terminating
        # proxy): then `https` reaches the app and the session cookie is Secure.
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
    }
