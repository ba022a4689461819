"""The optional Redis cache against a real redis-server: hits, expiry, and Redis going away."""

from __future__ import annotations

import logging

import pytest

from app.adapters.cache import NoCache, RedisCache, create_cache
from tests.support.redis_server import running_redis


async def test_cache_hits_and_expires() -> None:
    with running_redis() as (url, _):
        cache = RedisCache(url)
        calls = 0

        async def compute() -> dict[str, int]:
            nonlocal calls
            calls += 1
            return {"n": calls}

        assert await cache.get_or_compute("k", 5, compute) == {"n": 1}
        assert await cache.get_or_compute("k", 5, compute) == {"n": 1}, "served from Redis"
        assert await cache.get_or_compute("other", 0.05, compute) == {"n": 2}
        assert cache.hits == 1 and cache.misses == 2
        await cache.close()


async def test_redis_down_falls_back_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    with running_redis() as (url, process):
        cache = RedisCache(url)

        async def compute() -> str:
            return "fresh"

        assert await cache.get_or_compute("k", 5, compute) == "fresh"
        process.kill()
        process.wait()
        with caplog.at_level(logging.WARNING, logger="app.cache"):
            for _ in range(5):
                assert await cache.get_or_compute("k", 5, compute) == "fresh"
        warnings = [r for r in caplog.records if getattr(r, "event", "") == "cache.unavailable"]
        assert len(warnings) == 1, "the outage is logged once, not per request"
        await cache.close()


def test_without_redis_url_nothing_is_cached() -> None:
    assert isinstance(create_cache(None), NoCache)
