"""A lean HTTP/1.1 client for the one request shape the worker sends: a small POST, to a few
hosts, hundreds at the same instant, over keep-alive connections.

Why not aiohttp (or httpx): at a fire instant a worker sends every run of the second at once,
and the last request leaves only after the event loop has run every earlier one's client code,
so the client's CPU per request is the spread between a crowded instant's first and last send.
Here a request is bytes built ahead of the instant (`prepare`), a send is one `transport.write`
on a pooled connection, and answers are parsed by llhttp (through httptools, the parser uvicorn
uses). `python -m bench.http_client` measures the difference (docs/benchmarks.md).

Contract:
- `prepare` turns a URL, headers and a body into the exact bytes to send, or raises
  `InvalidURL` (also for credentials in the URL, which are never sent) / `UnsupportedProtocol`
  / `LocalProtocolError`: requests no retry can fix (`PermanentDeliveryError`s).
- `WireClient.request` sends one prepared request and returns an `Answer` once the status and
  headers are in and the body is complete, over the limit, or late (`complete` says which).
  It raises `TimeoutError` when no status and headers arrived by the deadline (`SlotTimeout`
  when the deadline passed while the request waited for a connection slot, `ResolveTimeout`
  while its host name was looked up), `OSError` for connection failures (`OriginBusy` when
  its origin already holds all the requests it may; `CertificateRejected`, permanent, when
  the target's TLS certificate does not verify),
  `RemoteProtocolError` / `ServerDisconnectedError` for broken answers.
- A request that fails on a reused keep-alive connection before any byte of an answer came
  back is sent once more on a new connection: the target closed an idle connection as we
  wrote (our idle expiry, 4 s, stays below the common 5 s server timeouts, so it is rare).
  Every request carries an `Idempotency-Key`, so even a doubtful resend is safe for targets.
- A host with several addresses is connected to the Happy Eyeballs way (`_connect`).
- The trailer fields of a chunked answer are ignored: only the head's headers are in `Answer`.
- Redirects are not followed, proxies and netrc are not read, nothing is decompressed (the
  caller asks for `Accept-Encoding: identity`). docs/operations.md has the whole list.
"""

from __future__ import annotations

import asyncio
import collections
import re
import ssl
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlsplit

import httptools

from app.domain.outcome import PermanentDeliveryError
from worker.http.resolver import Resolver
from worker.http.slots import DeadlineSlots, SlotExpired

MAX_HEAD_BYTES = 64 * 1024
"""Status line plus headers of an answer; a target that sends more is broken or hostile."""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_LINE_BREAK = re.compile(r"[\r\n\0]")
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class InvalidURL(ValueError, PermanentDeliveryError):
    """The URL cannot be requested (no host, a bad port...): no retry can fix it."""


class UnsupportedProtocol(ValueError, PermanentDeliveryError):
    """Only http and https are sent."""


class LocalProtocolError(ValueError, PermanentDeliveryError):
    """A header we were asked to send cannot be written in HTTP/1.1."""


class CertificateRejected(ssl.SSLCertVerificationError, PermanentDeliveryError):
    """The target's TLS certificate does not verify (expired, self-signed, another name): no
    retry can fix it until its operator does, so the attempt fails at once."""


class RemoteProtocolError(ConnectionError):
    """The target's answer is not HTTP/1.1 we can read."""


class ServerDisconnectedError(ConnectionError):
    """The target closed the connection before its answer was complete."""


Origin = tuple[str, str, int]  # scheme, host, port


@dataclass(frozen=True, slots=True)
class Request:
    """A request ready to go: where, and every byte of it."""

    origin: Origin
    data: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes
    complete: bool  # False: the body was cut (over the limit, late, or the connection broke)


def prepare(url: str, headers: Mapping[str, str], body: bytes) -> Request:
    """The bytes of `POST url` with `headers` and `body` (Host and Content-Length added)."""
    origin, request_line = _request_line(url)
    lines = [request_line, f"Content-Length: {len(body)}"]
    for name, value in headers.items():
        if not _sendable_name(name):
            raise LocalProtocolError(f"cannot send the header name {name[:100]!r}")
        if _LINE_BREAK.search(value):
            raise LocalProtocolError(f"the value of header {name!r} holds a line break or NUL")
        lines.append(f"{name}: {value}")
    try:
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise LocalProtocolError("a header holds characters HTTP/1.1 cannot carry") from None
    return Request(origin, head + body)


@lru_cache(maxsize=256)
def _sendable_name(name: str) -> bool:
    """Whether a header name may be sent (a token, and not one `prepare` writes itself). Kept:
    a delivery's headers are the same dozen names at every request (~4 of the ~14 us of
    building one went to checking them again, timeit)."""
    return bool(_TOKEN.fullmatch(name)) and name.lower() not in ("host", "content-length")


@lru_cache(maxsize=4_096)
def _request_line(url: str) -> tuple[tuple[str, str, int], str]:
    """A URL's origin and its request's first lines (`POST ...` and `Host`). Kept for the URLs
    sent to most: a schedule's target is the same at every slot, and parsing and quoting it
    took ~2.6 of the ~8 us of building a request (timeit). Errors are not kept."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"{exc}: {url[:200]!r}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UnsupportedProtocol(f"unsupported scheme {scheme or 'none'!r} in {url[:200]!r}")
    host = parts.hostname
    if not host:
        raise InvalidURL(f"no host in {url[:200]!r}")
    if "@" in parts.netloc:  # not dropped in silence: the target would miss its credentials
        raise InvalidURL(
            f"credentials in the URL (user:password@) are not sent: {parts.scheme}://{host}/... "
            "must authenticate the scheduler by its signature or bearer secret"
        )
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise InvalidURL(f"host {host[:100]!r} cannot be encoded") from None
    port = port if port is not None else _DEFAULT_PORTS[scheme]
    authority = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    if port != _DEFAULT_PORTS[scheme]:
        authority += f":{port}"
    target = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_QUERY_SAFE)
    return (scheme, ascii_host, port), f"POST {target} HTTP/1.1\r\nHost: {authority}"


class _Exchange:
    """One request/answer on a connection; its futures are what `request` waits on."""

    __slots__ = ("head", "done", "status", "headers", "body", "size", "answered")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.head: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[bool] = loop.create_future()  # result: body complete
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.size = 0
        self.answered = False  # any byte of an answer came back

    def expire(self) -> None:
        """The deadline: no status and headers yet is a `TimeoutError`; a body still coming is
        cut there (the status has decided)."""
        if not self.head.done():
            self.head.set_exception(TimeoutError())
        elif not self.done.done():
            self.done.set_result(False)


class _Connection(asyncio.Protocol):
    """A keep-alive connection: httptools calls the `on_*` methods while it parses."""

    def __init__(self, body_limit: int) -> None:
        self.body_limit = body_limit
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: _Exchange | None = None
        self.head_bytes = 0
        self.reusable = False
        self.closed = False
        self.expiry: asyncio.TimerHandle | None = None
        self.on_idle_closed: Callable[[_Connection], None] | None = None  # set while pooled

    # -- asyncio ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        if exchange.done.done():  # more after a complete answer: cannot be trusted either
            self.close()
            return
        exchange.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(RemoteProtocolError("the target asked to switch protocols"))
            return
        except httptools.HttpParserError as exc:
            self._fail(RemoteProtocolError(f"malformed answer: {exc}"))
            return
        if not exchange.head.done():  # every byte so far belongs to the status and headers
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self._fail(RemoteProtocolError("the answer's headers exceed 64 KiB"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        exchange = self.exchange
        if exchange is None:
            self._leave_pool()  # the target closed an idle connection
            return
        if exchange.head.done() and not exchange.done.done():
            # A body without Content-Length ends when the connection does (HTTP/1.0 style).
            delimited = "content-length" in exchange.headers or "chunked" in exchange.headers.get(
                "transfer-encoding", ""
            )
            exchange.done.set_result(not delimited)
        elif not exchange.head.done():
            exchange.head.set_exception(
                ServerDisconnectedError("the target closed the connection without an answer")
                if exc is None
                else exc
            )

    # -- httptools -------------------------------------------------------------------------

    def on_status(self, status: bytes) -> None:
        pass  # the code comes from the parser; the reason phrase is not needed

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.exchange is not None
        if self.exchange.head.done():
            # A trailer field of a chunked answer (llhttp reports them here too): ignored, so
            # that nothing sent after the status, such as a Retry-After, decides anything.
            return
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = self.exchange.headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            exchange.headers = {}
            return
        exchange.status = status
        exchange.head.set_result(None)

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        assert exchange is not None
        if exchange.size >= self.body_limit:
            return
        exchange.body.append(body)
        exchange.size += len(body)
        if exchange.size >= self.body_limit and not exchange.done.done():
            exchange.done.set_result(False)  # the rest is not read; the connection is dropped
            self.close()

    def on_message_complete(self) -> None:
        exchange = self.exchange
        if exchange is None or not exchange.head.done() or exchange.done.done():
            return  # an interim answer ended, or the body was already cut
        self.reusable = self.parser.should_keep_alive()
        exchange.done.set_result(True)

    # -- ours ------------------------------------------------------------------------------

    def begin(self, data: bytes, loop: asyncio.AbstractEventLoop) -> _Exchange:
        assert self.transport is not None
        self.exchange = _Exchange(loop)
        self.head_bytes = 0
        self.reusable = False
        self.transport.write(data)
        return self.exchange

    def end(self) -> None:
        self.exchange = None

    def _fail(self, exc: Exception) -> None:
        exchange = self.exchange
        if exchange is not None:
            if not exchange.head.done():
                exchange.head.set_exception(exc)
            elif not exchange.done.done():
                exchange.done.set_result(False)
        self.close()

    def close(self) -> None:
        self.reusable = False
        self._leave_pool()
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()

    def _leave_pool(self) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        if self.on_idle_closed is not None:
            on_idle_closed, self.on_idle_closed = self.on_idle_closed, None
            on_idle_closed(self)


class SlotTimeout(TimeoutError):
    """The attempt's deadline passed while its request waited for a connection slot."""


class OriginBusy(ConnectionError):
    """The origin already has as many requests in flight and waiting as a worker holds for one
    origin: this one is not sent (an attempt to retry later)."""


HAPPY_EYEBALLS_DELAY = 0.25
"""Seconds before the next address of a host is tried while the previous one has not
connected (RFC 8305's recommended value)."""

ORIGIN_WAITING_FACTOR = 4
"""Requests that may wait for an origin's slots, per slot (see `WireClient`)."""


class _OriginGate:
    """The requests in flight to one origin, and the ones waiting for its slots."""

    __slots__ = ("slots", "users")

    def __init__(self, limit: int) -> None:
        self.slots = DeadlineSlots(limit)
        self.users = 0  # in flight + waiting: the gate is dropped when it falls to 0


class WireClient:
    """Pooled keep-alive connections per origin; at most `max_connections` requests in flight,
    and at most `max_per_origin` to any one origin except the `uncapped` ones (None: no cap).

    Why a cap per origin (issue 10, H1): a target that accepts connections and never answers
    holds every request sent to it until its deadline (up to an hour). Without a cap it would
    take the whole client, and every tenant's requests would wait for a slot. With it, such an
    origin holds at most its own share; requests beyond it wait for a slot of their origin
    without holding one of the client's. Every wait for a slot ends at the request's deadline
    (`SlotTimeout`): a request is never sent with no time left to answer.

    At most `ORIGIN_WAITING_FACTOR × max_per_origin` requests wait for one origin; beyond that a
    request fails at once (`OriginBusy`). Why: a waiting request is a task holding its run and
    its bytes until its deadline (up to an hour), so a silent origin fed every second would
    hold an ever larger heap, and the garbage collector's full passes, which walk all of it,
    grow with it: a pause for every tenant's sends (tests/faults/test_tarpit.py, SOAK)."""

    def __init__(
        self,
        *,
        max_connections: int = 1000,
        max_per_origin: int | None = None,
        uncapped: Collection[Origin] = (),
        keepalive_expiry: float = 4.0,
        body_limit: int = 64 * 1024,
        resolver: Resolver | None = None,
    ) -> None:
        self._slots = DeadlineSlots(max_connections)
        self._max_per_origin = max_per_origin
        self._uncapped = frozenset(uncapped)
        self._gates: dict[Origin, _OriginGate] = {}
        self._max_idle = max_connections
        self._expiry = keepalive_expiry
        self._body_limit = body_limit
        self._idle: dict[Origin, collections.deque[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._resolver = resolver or Resolver()

    async def request(self, request: Request, deadline: float) -> Answer:
        """Send `request`; the answer by `deadline` (loop time). See the module's contract."""
        origin = request.origin
        if self._max_per_origin is None or origin in self._uncapped:
            return await self._request_in_slot(request, deadline)
        gate = self._gates.get(origin)
        if gate is None:
            gate = self._gates[origin] = _OriginGate(self._max_per_origin)
        elif gate.users >= self._max_per_origin * (1 + ORIGIN_WAITING_FACTOR):
            raise OriginBusy(
                f"{gate.users} requests to {origin[0]}://{origin[1]}:{origin[2]} are in flight or "
                f"waiting, the most a worker holds for one origin "
                f"({1 + ORIGIN_WAITING_FACTOR} x SCHEDULER_ORIGIN_CONNECTIONS)"
            )
        gate.users += 1
        try:
            # The origin's slot first: requests queued behind a slow origin hold none of the
            # client's slots while they wait.
            if not gate.slots.take():
                await _acquire(gate.slots, deadline, origin)
            try:
                return await self._request_in_slot(request, deadline)
            finally:
                gate.slots.release()
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[origin]

    async def _request_in_slot(self, request: Request, deadline: float) -> Answer:
        if not self._slots.take():  # free: taken at once, no suspension (the fire instant)
            await _acquire(self._slots, deadline, None)
        try:
            conn = self._take_idle(request.origin)
            if conn is not None:
                try:
                    return await self._exchange(conn, request, deadline)
                except OSError as exc:
                    if isinstance(exc, TimeoutError) or _answered(exc):
                        raise
                    # The target dropped an idle connection under us: once more, on a new one.
            conn = await self._connect(request.origin, deadline)
            return await self._exchange(conn, request, deadline)
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        self._resolver.close()
        for idle in list(self._idle.values()):
            for conn in list(idle):
                conn.close()
        self._idle.clear()

    async def _exchange(self, conn: _Connection, request: Request, deadline: float) -> Answer:
        loop = asyncio.get_running_loop()
        exchange = conn.begin(request.data, loop)
        # One timer for the whole exchange, not an `asyncio.timeout_at` around each wait: two
        # Timeouts per request were a tenth of a worker's CPU at a crowded instant (py-spy).
        timer = loop.call_at(deadline, exchange.expire)
        try:
            try:
                await exchange.head
            except BaseException as exc:
                if exchange.head.done() and not exchange.head.cancelled():
                    exchange.head.exception()  # expired as we were cancelled: read, not logged
                conn.close()
                if isinstance(exc, ConnectionError | OSError) and exchange.answered:
                    exc.add_note("answered")  # no resend once the target has said anything
                raise
            try:
                complete = await exchange.done  # False once the deadline has passed
            except BaseException:
                conn.close()
                raise
            if not complete:
                conn.close()
            body = b"".join(exchange.body)[: self._body_limit]
            return Answer(exchange.status, exchange.headers, body, complete)
        finally:
            timer.cancel()
            conn.end()
            if conn.reusable and not conn.closed:
                self._put_idle(request.origin, conn, loop)

    async def _connect(self, origin: Origin, deadline: float) -> _Connection:
        """A new connection, the name resolved by our resolver within the deadline (an address
        given to the loop is not looked up again). With several addresses, Happy Eyeballs
        (RFC 8305): address families interleaved, each address tried `HAPPY_EYEBALLS_DELAY`
        after the previous one unless that one failed sooner, the first to connect wins; so an
        address that never answers (an unroutable IPv6, say) delays a connection by a quarter
        of a second, not by the whole deadline."""
        scheme, host, port = origin
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            tls = self._ssl
        addresses = await self._resolver.resolve(host, deadline)
        async with asyncio.timeout_at(deadline):
            if len(addresses) == 1:  # the common case: no race, no extra task
                return await self._open(addresses[0], port, tls, host)
            return await self._race(_interleaved(addresses), port, tls, host)

    async def _race(
        self, addresses: list[str], port: int, tls: ssl.SSLContext | None, host: str
    ) -> _Connection:
        loop = asyncio.get_running_loop()
        waiting = list(addresses)
        trying: set[asyncio.Task[_Connection]] = set()
        failure: OSError | None = None
        try:
            while waiting or trying:
                if waiting:
                    trying.add(loop.create_task(self._open(waiting.pop(0), port, tls, host)))
                done, trying = await asyncio.wait(
                    trying,
                    timeout=HAPPY_EYEBALLS_DELAY if waiting else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                connected = [task.result() for task in done if task.exception() is None]
                for extra in connected[1:]:
                    extra.close()
                if connected:
                    return connected[0]
                for task in done:
                    error = task.exception()
                    if not isinstance(error, OSError):
                        raise error  # type: ignore[misc]
                    failure = error
        finally:
            for task in trying:  # the losers (or every attempt, at the deadline)
                task.cancel()
                task.add_done_callback(_close_connected)
        assert failure is not None
        raise failure

    async def _open(
        self, address: str, port: int, tls: ssl.SSLContext | None, host: str
    ) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                lambda: _Connection(self._body_limit),
                address,
                port,
                ssl=tls,
                server_hostname=host if tls is not None else None,
            )
        except ssl.SSLCertVerificationError as exc:
            raise CertificateRejected(
                exc.errno,
                f"the certificate of {host[:100]} does not verify: {exc.verify_message or exc}",
            ) from exc
        return conn

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()  # the most recently used: least likely to have been closed
            conn.on_idle_closed = None
            if conn.expiry is not None:
                conn.expiry.cancel()
                conn.expiry = None
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
        return None

    def _put_idle(self, origin: Origin, conn: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        idle = self._idle.setdefault(origin, collections.deque())
        if len(idle) >= self._max_idle:
            conn.close()
            return
        idle.append(conn)
        conn.expiry = loop.call_later(self._expiry, conn.close)
        conn.on_idle_closed = idle.remove  # closed while idle (expiry, or by the target)


async def _acquire(slots: DeadlineSlots, deadline: float, origin: Origin | None) -> None:
    """A slot, or `SlotTimeout` at the deadline."""
    try:
        await slots.acquire(deadline)
    except SlotExpired:
        which = (
            f"for {origin[0]}://{origin[1]}:{origin[2]} (SCHEDULER_ORIGIN_CONNECTIONS)"
            if origin is not None
            else "in the worker's HTTP client"
        )
        raise SlotTimeout(f"no connection slot free {which} before the attempt's timeout") from None


def _interleaved(addresses: list[str]) -> list[str]:
    """The addresses in the resolver's order, alternating families from the first one's (RFC
    8305 §4): a family that does not work costs one `HAPPY_EYEBALLS_DELAY`, not one each."""
    first_v6 = ":" in addresses[0]
    same = [a for a in addresses if (":" in a) == first_v6]
    other = [a for a in addresses if (":" in a) != first_v6]
    mixed = [a for pair in zip(same, other, strict=False) for a in pair]
    shorter = min(len(same), len(other))
    return mixed + same[shorter:] + other[shorter:]


def _close_connected(task: asyncio.Task[_Connection]) -> None:
    """A losing attempt that connected anyway (before its cancellation landed) is closed."""
    if not task.cancelled() and task.exception() is None:
        task.result().close()


def _answered(exc: BaseException) -> bool:
    return "answered" in getattr(exc, "__notes__", ())
