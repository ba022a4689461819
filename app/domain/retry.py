"""When an attempt that did not succeed is tried again (SPEC §5). Pure: no I/O, no clock.

Contract:
- `decide` says what an attempt's `Outcome` means for its run: done (succeeded, accepted),
  failed (a permanent failure, or the last attempt), or retried after a delay.
- `retry_delay_seconds` is the target's `Retry-After` when the answer carried one, else
  `backoff_seconds`: exponential with ±20 % jitter; both are capped at one hour
  (`MAX_DELAY_SECONDS`). The alert sender uses the same backoff (app/domain/alerts.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.domain.outcome import MAX_DELAY_SECONDS, Outcome


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status: str  # succeeded | accepted | failed | retrying
    retry_delay_seconds: float | None  # from now, on the database clock


def decide(
    outcome: Outcome,
    *,
    attempt: int,
    max_attempts: int,
    backoff_seconds: float,
    random_unit: float,
) -> AttemptResult:
    """`random_unit` in [0, 1) picks the ±20 % jitter of the backoff (injected for tests)."""
    if outcome.kind in ("succeeded", "accepted"):
        return AttemptResult(outcome.kind, None)
    if outcome.kind == "failed" or attempt >= max_attempts:
        return AttemptResult("failed", None)
    return AttemptResult(
        "retrying", retry_delay_seconds(outcome, attempt, backoff_seconds, random_unit)
    )


def backoff_seconds(attempt: int, base_seconds: float, random_unit: float) -> float:
    """The delay after failed attempt number `attempt` (1-based): `base * 2**(attempt-1)`,
    capped at an hour, then times a jitter factor in [0.8, 1.2) from `random_unit` in [0, 1),
    and capped again.

    Capping before the jitter keeps retries that hit the cap spread over [48, 60] minutes
    instead of all landing on exactly one hour together.
    """
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    if not (math.isfinite(base_seconds) and base_seconds >= 0):
        raise ValueError(f"the base delay must be a finite number >= 0, got {base_seconds}")
    if not 0.0 <= random_unit < 1.0:
        raise ValueError(f"random_unit must be in [0, 1), got {random_unit}")
    # 2.0 ** 1000 is still a finite float; beyond it the cap has long been reached anyway.
    raw = min(base_seconds * 2.0 ** min(attempt - 1, 1000), MAX_DELAY_SECONDS)
    return min(raw * (0.8 + 0.4 * random_unit), MAX_DELAY_SECONDS)


def retry_delay_seconds(
    outcome: Outcome, attempt: int, base_seconds: float, random_unit: float
) -> float:
    """The target's Retry-After when it sent one (at most 1 h), else `backoff_seconds`."""
    if outcome.retry_after_seconds is not None:
        return min(max(outcome.retry_after_seconds, 0.0), MAX_DELAY_SECONDS)
    return backoff_seconds(attempt, base_seconds, random_unit)
