"""The optional read cache (SPEC §1: Redis only caches read-heavy views; never on the firing
path). Without REDIS_URL nothing is cached; with Redis down, reads go to the database and the
outage is logged once (and once more when Redis is back).

Keys carry a *marker* of the data they summarise (for a schedule: its version, next slot, last
run and streak, which every run that ends or fires changes), so a cached answer is never served
after the runs it describes have changed; a short TTL bounds the rest.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger("app.cache")
RETRY_AFTER_SECONDS = 10.0


class Cache(Protocol):
    async def get_or_compute(
        self, key: str, ttl_seconds: float, compute: Callable[[], Awaitable[Any]]
    ) -> Any: ...

    async def close(self) -> None: ...


class NoCache:
    async def get_or_compute(
        self, key: str, ttl_seconds: float, compute: Callable[[], Awaitable[Any]]
    ) -> Any:
        return await compute()

    async def close(self) -> None:
        return None


class RedisCache:
    """JSON values in Redis. Any Redis failure falls back to `compute()`."""

    def __init__(self, url: str, *, prefix: str = "wfs:", timeout: float = 0.25) -> None:
        import redis.asyncio as redis  # optional dependency path: imported only when used

        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._prefix = prefix
        self._down_since: float | None = None
        self.hits = self.misses = 0

    def _available(self) -> bool:
        return self._down_since is None or time.monotonic() - self._down_since > RETRY_AFTER_SECONDS

    def _failed(self, exc: Exception) -> None:
        if self._down_since is None:
            log.warning(
                "cache unavailable; serving from the database",
                extra={"event": "cache.unavailable", "error": type(exc).__name__},
            )
        self._down_since = time.monotonic()

    def _recovered(self) -> None:
        if self._down_since is not None:
            log.info("cache available again", extra={"event": "cache.available"})
            self._down_since = None

    async def get_or_compute(
        self, key: str, ttl_seconds: float, compute: Callable[[], Awaitable[Any]]
    ) -> Any:
        full_key = self._prefix + key
        if self._available():
            try:
                cached = await self._client.get(full_key)
                self._recovered()
                if cached is not None:
                    self.hits += 1
                    return json.loads(cached)
            except Exception as exc:  # any Redis problem: fall back, never fail the read
                self._failed(exc)
        self.misses += 1
        value = await compute()
        if self._available():
            try:
                await self._client.set(full_key, json.dumps(value), px=int(ttl_seconds * 1000))
            except Exception as exc:
                self._failed(exc)
        return value

    async def close(self) -> None:
        await self._client.aclose()


def create_cache(redis_url: str | None) -> Cache:
    return RedisCache(redis_url) if redis_url else NoCache()
