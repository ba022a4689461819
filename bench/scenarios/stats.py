"""Stats: the statistics reads of a schedule with 1,000,000 executions (bench/stats_million)."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.scenarios.common import Context
from bench.stats_million import measure


def run(ctx: Context) -> dict[str, Any]:
    url = ctx.cluster.migrated_database("ours_stats")
    try:
        return asyncio.run(measure(url, ctx.sizes.stats_rows))
    finally:
        ctx.cluster.drop_database("ours_stats")
