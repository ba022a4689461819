"""One slow origin cannot take the HTTP client (issue 10, H1 and L8): a cap on the requests in
flight per origin, waits for a slot that end at the attempt's deadline, and host name lookups
that end at the deadline and hold at most one resolver thread per name. Real loopback servers;
the slow DNS server is a blocking lookup function (no resolver here can be made slow)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tests.integration.test_wire import (
    OK,
    RawServer,
    SlowAnswers,
    deadline,
    keep_answering,
    read_request,
)
from worker.http.resolver import MAX_CACHED_NAMES, Resolver, ResolveTimeout, system_lookup
from worker.http.wire import ORIGIN_WAITING_FACTOR, OriginBusy, SlotTimeout, WireClient, prepare


async def tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts, reads the request, never answers."""
    await read_request(reader)
    await asyncio.sleep(3600)


async def test_a_silent_origin_holds_only_its_own_share_of_the_client():
    wire = WireClient(max_connections=4, max_per_origin=2)
    try:
        async with RawServer(tarpit) as slow, RawServer(keep_answering(OK)) as fast:
            stuck = [
                asyncio.create_task(wire.request(prepare(slow.url(), {}, b""), deadline(30)))
                for _ in range(6)
            ]
            await asyncio.sleep(0.2)
            started = time.monotonic()
            answers = await asyncio.gather(
                *(wire.request(prepare(fast.url(), {}, b""), deadline(5)) for _ in range(4))
            )
            assert [a.status for a in answers] == [200] * 4
            assert time.monotonic() - started < 2.0  # not held behind the silent origin
            assert slow.connections == 2  # the other four wait for their origin's slot
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
    finally:
        await wire.aclose()


async def test_an_origin_holding_all_it_may_refuses_more_at_once():
    """One slot and four waiting: the sixth request is not held (a silent origin fed every
    second must not grow the worker's heap until its requests' deadlines)."""
    wire = WireClient(max_connections=100, max_per_origin=1)
    try:
        async with RawServer(tarpit) as slow:
            held = [
                asyncio.create_task(wire.request(prepare(slow.url(), {}, b""), deadline(30)))
                for _ in range(1 + ORIGIN_WAITING_FACTOR)
            ]
            await asyncio.sleep(0.1)
            with pytest.raises(OriginBusy, match="5 requests to http://127.0.0.1"):
                await wire.request(prepare(slow.url(), {}, b""), deadline(30))
            held[-1].cancel()  # one fewer waiting: the next one may wait again
            await asyncio.sleep(0)
            held[-1] = asyncio.create_task(wire.request(prepare(slow.url(), {}, b""), deadline(30)))
            await asyncio.sleep(0.1)
            assert not held[-1].done()
            for task in held:
                task.cancel()
            await asyncio.gather(*held, return_exceptions=True)
    finally:
        await wire.aclose()


async def test_the_wait_for_an_origin_slot_ends_at_the_deadline():
    wire = WireClient(max_connections=100, max_per_origin=1)
    try:
        async with RawServer(tarpit) as slow:
            holder = asyncio.create_task(wire.request(prepare(slow.url(), {}, b""), deadline(30)))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            with pytest.raises(SlotTimeout, match="SCHEDULER_ORIGIN_CONNECTIONS"):
                await wire.request(prepare(slow.url(), {}, b""), deadline(0.3))
            assert time.monotonic() - started < 1.5
            holder.cancel()
            await asyncio.gather(holder, return_exceptions=True)
    finally:
        await wire.aclose()


async def test_the_wait_for_a_client_slot_ends_at_the_deadline():
    """Before: `async with self._slots` waited with no deadline, so a queued request's timeout
    only started once it had a slot."""
    wire = WireClient(max_connections=1)
    try:
        async with RawServer(tarpit) as slow, RawServer(keep_answering(OK)) as fast:
            holder = asyncio.create_task(wire.request(prepare(slow.url(), {}, b""), deadline(10)))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            with pytest.raises(SlotTimeout, match="HTTP client"):
                await wire.request(prepare(fast.url(), {}, b""), deadline(0.3))
            assert time.monotonic() - started < 1.5
            holder.cancel()
            await asyncio.gather(holder, return_exceptions=True)
    finally:
        await wire.aclose()


async def test_an_uncapped_origin_may_use_the_whole_client():
    slow = SlowAnswers(0.1)
    async with RawServer(slow) as server:
        origin = prepare(server.url(), {}, b"").origin
        wire = WireClient(max_connections=5, max_per_origin=1, uncapped=[origin])
        try:
            await asyncio.gather(
                *(wire.request(prepare(server.url(), {}, b""), deadline()) for _ in range(5))
            )
        finally:
            await wire.aclose()
    assert slow.peak == 5


# --- name resolution (L8) -----------------------------------------------------------------------


class SlowDns:
    """A lookup whose `slow.test` answers only when released; everything else is 127.0.0.1."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.calls.append(host)
        if host.startswith("slow"):
            self.release.wait(10)
        return ["127.0.0.1"]


async def test_a_lookup_ends_at_the_deadline_and_one_slow_name_holds_one_thread():
    dns = SlowDns()
    resolver = Resolver(threads=2, lookup=dns)
    try:
        started = time.monotonic()
        results = await asyncio.gather(
            *(resolver.resolve("slow.test", deadline(0.3)) for _ in range(20)),
            return_exceptions=True,
        )
        assert all(isinstance(r, ResolveTimeout) for r in results), results
        assert time.monotonic() - started < 1.5
        assert dns.calls == ["slow.test"]  # twenty requests, one lookup in progress
        # The slow lookup still holds its thread; other names are answered by the other one.
        assert await resolver.resolve("fast.test", deadline(1)) == ["127.0.0.1"]
        assert await resolver.resolve("fast.test", deadline(1)) == ["127.0.0.1"]
        assert dns.calls == ["slow.test", "fast.test"]  # the second answer came from the cache
        assert await resolver.resolve("10.1.2.3", deadline(1)) == ["10.1.2.3"]
        assert await resolver.resolve("::1", deadline(1)) == ["::1"]
        assert "10.1.2.3" not in dns.calls  # addresses are not looked up
    finally:
        dns.release.set()
        resolver.close()


async def test_new_connections_resolve_names_through_the_resolver():
    dns = SlowDns()
    wire = WireClient(resolver=Resolver(lookup=dns))
    try:
        async with RawServer(keep_answering(OK)) as server:
            port = server.url().split(":")[2].split("/")[0]
            answer = await wire.request(
                prepare(f"http://fast.test:{port}/hook", {}, b""), deadline()
            )
            assert answer.status == 200
            with pytest.raises(TimeoutError, match="resolving 'slow.test'"):
                await wire.request(prepare(f"http://slow.test:{port}/", {}, b""), deadline(0.3))
    finally:
        dns.release.set()
        await wire.aclose()


async def test_the_system_resolver_answers_localhost_and_every_address_is_tried():
    assert "127.0.0.1" in system_lookup("localhost") or "::1" in system_lookup("localhost")
    wire = WireClient()
    try:
        async with RawServer(keep_answering(OK)) as server:  # listens on 127.0.0.1 only
            url = server.url().replace("127.0.0.1", "localhost")
            answer = await wire.request(prepare(url, {}, b""), deadline())
            assert answer.status == 200
    finally:
        await wire.aclose()


async def test_cached_answers_expire_after_their_time_and_the_cache_stays_small():
    dns = SlowDns()
    now = [0.0]
    resolver = Resolver(cache_seconds=10.0, lookup=dns, monotonic=lambda: now[0])
    try:
        await resolver.resolve("fast.test", deadline(1))
        now[0] = 9.9
        await resolver.resolve("fast.test", deadline(1))
        assert dns.calls == ["fast.test"]  # within its time: from the cache
        now[0] = 10.0
        await resolver.resolve("fast.test", deadline(1))
        assert dns.calls == ["fast.test", "fast.test"]  # expired: asked again
        for n in range(MAX_CACHED_NAMES + 5):
            await resolver.resolve(f"fast-{n}.test", deadline(1))
        assert len(resolver._cache) == MAX_CACHED_NAMES  # the oldest answers went first
        assert "fast-0.test" not in resolver._cache and f"fast-{n}.test" in resolver._cache
    finally:
        dns.release.set()
        resolver.close()
