"""/api/stats: the statistics of all the caller's schedules (SPEC §7); a schedule's own are in
its detail (routes/schedules.py)."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import State

from app.api.caching import STATS_TTL_SECONDS, cached
from app.api.deps import LAG_TOLERANT, StatsDep, Tenant
from app.api.errors import error_responses
from app.api.present import stats_fields
from app.api.schemas import OverallStatsOut
from app.api.state import cache_of


@get(
    "/api/stats",
    tags=["runs"],
    summary="Statistics of all your schedules",
    dependencies=LAG_TOLERANT,
    responses=error_responses(),
)
async def overall_stats(stats: StatsDep, tenant: Tenant, state: State) -> OverallStatsOut:
    async def compute() -> OverallStatsOut:
        overall = await stats.overall()
        return OverallStatsOut.model_validate(
            {**stats_fields(overall.stats), "schedules": overall.schedules}
        )

    return await cached(
        cache_of(state), f"stats:{tenant}", STATS_TTL_SECONDS, OverallStatsOut, compute
    )
