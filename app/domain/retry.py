"""What an attempt's outcome means for its run: done, failed, or retried later (SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.delivery import Outcome, retry_delay_seconds


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
