"""Response caching for read-heavy endpoints (statistics, history), through the optional cache."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel

from app.adapters.cache import Cache
from app.domain.schedule import Schedule

Model = TypeVar("Model", bound=BaseModel)
STATS_TTL_SECONDS = 2.0
HISTORY_TTL_SECONDS = 2.0


def schedule_marker(schedule: Schedule) -> str:
    """Changes whenever a run of the schedule fires or ends, or the schedule is edited."""
    return ":".join(
        str(part)
        for part in (
            schedule.version,
            schedule.next_run_at,
            schedule.last_run_at,
            schedule.last_status,
            schedule.consecutive_failures,
        )
    )


async def cached(
    cache: Cache, key: str, ttl: float, model: type[Model], compute: Callable[[], Awaitable[Model]]
) -> Model:
    async def as_json() -> object:
        return (await compute()).model_dump(mode="json", by_alias=True)

    return model.model_validate(await cache.get_or_compute(key, ttl, as_json))
