"""A schedule's jitter: the fixed offset that spreads the schedules sharing a cron."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from uuid import UUID


def jitter_offset(schedule_id: UUID, jitter_seconds: int) -> timedelta:
    """The schedule's fixed offset in [0, jitter_seconds), to the millisecond.

    Deterministic (a hash of the id), so every worker and every restart computes the same fire
    instant for a slot, and schedules sharing a cron spread out instead of firing together.
    """
    if jitter_seconds <= 0:
        return timedelta(0)
    digest = hashlib.sha256(schedule_id.bytes).digest()
    millis = int.from_bytes(digest[:8], "big") % (jitter_seconds * 1000)
    return timedelta(milliseconds=millis)
