"""Statistics from folded metrics (SPEC §6). Pure: the numbers come in, the answer goes out.

Durations are kept in log-scale buckets (each 25 % wider than the previous, see migration
0003), so `p95DurationMs` is the geometric middle of the bucket that holds the 95th
percentile: within ±12 % of the exact value, at any history size. Counts, the success rate and
the average are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.domain.execution import FAILURES, STATUSES

BUCKET_GROWTH = 1.25

Metrics = dict[tuple[str, str], int]


@dataclass(frozen=True, slots=True)
class Stats:
    counts: dict[str, int]
    total: int
    success_rate: float | None  # percent, 2 decimals; None before any run ended
    avg_duration_ms: float | None
    p95_duration_ms: float | None


def bucket_upper_ms(bucket: int) -> float:
    return BUCKET_GROWTH**bucket


def quantile_from_buckets(buckets: dict[int, int], q: float) -> float | None:
    """The q-quantile of values in log buckets (geometric middle of its bucket)."""
    total = sum(n for n in buckets.values() if n > 0)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for bucket in sorted(buckets):
        seen += max(0, buckets[bucket])
        if seen >= rank:
            if bucket == 0:
                return 1.0
            return round(math.sqrt(bucket_upper_ms(bucket - 1) * bucket_upper_ms(bucket)), 1)
    return None


def success_rate(succeeded: int, failed: int) -> float | None:
    """Percent of ended runs that succeeded; `failed` counts every failure (FAILURES)."""
    return round(100.0 * succeeded / (succeeded + failed), 2) if succeeded + failed else None


def from_metrics(metrics: Metrics) -> Stats:
    counts: dict[str, int] = {
        status: max(0, metrics.get(("status", status), 0)) for status in STATUSES
    }
    buckets = {
        int(key): value for (metric, key), value in metrics.items() if metric == "duration_bucket"
    }
    duration_count = sum(buckets.values())  # one bucket sample per duration (migration 0016)
    return Stats(
        counts=counts,
        total=sum(counts.values()),
        success_rate=success_rate(counts["succeeded"], sum(counts[s] for s in FAILURES)),
        avg_duration_ms=(
            round(metrics.get(("duration_sum_ms", ""), 0) / duration_count, 1)
            if duration_count > 0
            else None
        ),
        p95_duration_ms=quantile_from_buckets(buckets, 0.95),
    )
