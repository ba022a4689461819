"""How an instant is written wherever it leaves the scheduler: in a delivery's body and headers,
in `Idempotency-Key`, in the JSON API (SPEC §7). Pure."""

from __future__ import annotations

from datetime import UTC, datetime


def format_instant(value: datetime) -> str:
    """ISO 8601 in UTC with `Z`: `2026-03-08T08:00:00Z`, or `...T08:00:00.250Z` when the instant
    has a fraction of a second (milliseconds). A naive datetime is refused (ValueError): it
    names no instant."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"an aware datetime is required, got the naive {value!r}")
    utc = value.astimezone(UTC)
    text = utc.replace(tzinfo=None, microsecond=0).isoformat()
    if utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    return text + "Z"
