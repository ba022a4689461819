"""Host names to addresses for the HTTP client's new connections, within each attempt's deadline
(issue 10, L8).

Why not let `loop.create_connection(host, ...)` resolve: it runs `getaddrinfo` in a shared
thread pool (asyncio's default executor, or libuv's four threads under uvloop), and cancelling
the caller at its deadline does not stop a lookup in progress. A name whose DNS server never
answers would hold every thread of that pool, and every tenant's new connections would wait.

Contract:
- `resolve(host, deadline)` returns the host's addresses (IP literals at once, without a
  thread), or raises `ResolveTimeout` at the deadline, or `OSError` (`socket.gaierror`) when
  the name does not resolve.
- Lookups run on this resolver's own small thread pool, at most one at a time per host name:
  callers asking for a name being looked up share that lookup, so one slow name holds at most
  one thread, however many requests go to it.
- Answers are kept `cache_seconds` (the keep-alive pool already spares most lookups; this
  spares a burst of new connections to one host from asking once each), for at most
  `MAX_CACHED_NAMES` names: past it the stale answers go, then the oldest. Failed lookups are
  not kept. The system's own TTLs are not visible through `getaddrinfo`, hence the fixed bound.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

MAX_CACHED_NAMES = 1_000
"""A worker sends to a few hosts; more names than this are answers worth asking again."""

Lookup = Callable[[str], list[str]]
"""A blocking lookup: host name → its addresses, in the order to try them."""


class ResolveTimeout(TimeoutError):
    """The host name was not resolved before the attempt's deadline."""


def system_lookup(host: str) -> list[str]:
    """The system resolver's addresses for `host` (IPv4 and IPv6), in its preferred order."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Resolver:
    def __init__(
        self,
        *,
        threads: int = 4,
        cache_seconds: float = 10.0,
        lookup: Lookup = system_lookup,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`monotonic` dates the cached answers (injected by tests)."""
        self._monotonic = monotonic
        self._lookup = lookup
        self._threads = threads
        self._cache_seconds = cache_seconds
        self._executor: ThreadPoolExecutor | None = None
        self._cache: dict[str, tuple[float, list[str]]] = {}
        self._lookups: dict[str, asyncio.Future[list[str]]] = {}

    async def resolve(self, host: str, deadline: float) -> list[str]:
        """`host`'s addresses, by `deadline` (loop time). See the module's contract."""
        if _is_ip(host):
            return [host]
        cached = self._cache.get(host)
        if cached is not None and cached[0] > self._monotonic():
            return cached[1]
        lookup = self._lookups.get(host)
        if lookup is None:
            lookup = self._start(host)
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.shield(lookup)
        except TimeoutError:
            raise ResolveTimeout(
                f"resolving {host[:100]!r} took longer than the attempt's timeout"
            ) from None

    def close(self) -> None:
        """Forget the cache; lookups in progress end in their threads, nobody waits for them."""
        self._cache.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _start(self, host: str) -> asyncio.Future[list[str]]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="resolver")
        lookup = asyncio.get_running_loop().run_in_executor(self._executor, self._lookup, host)
        self._lookups[host] = lookup

        def done(future: asyncio.Future[list[str]]) -> None:
            self._lookups.pop(host, None)
            if not future.cancelled() and future.exception() is None:
                self._remember(host, future.result())

        lookup.add_done_callback(done)
        return lookup

    def _remember(self, host: str, addresses: list[str]) -> None:
        cache = self._cache
        cache.pop(host, None)  # re-inserted last: the dict's order is the answers' age
        cache[host] = (self._monotonic() + self._cache_seconds, addresses)
        if len(cache) > MAX_CACHED_NAMES:
            now = self._monotonic()
            for name in [name for name, (until, _) in cache.items() if until <= now]:
                del cache[name]
            while len(cache) > MAX_CACHED_NAMES:
                del cache[next(iter(cache))]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
