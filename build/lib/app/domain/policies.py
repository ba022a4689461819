"""Per-schedule policies that are pure arithmetic: jitter (and, later, backoff)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import urlsplit
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


def url_allowed(url: str, allowlist: tuple[str, ...]) -> bool:
    """Whether `url` falls under one of the allowlist's URL prefixes.

    Compared by parts, not as strings: scheme, host and port must be equal and the path must be
    the prefix's path or below it, so `https://api.example.com` does not admit
    `https://api.example.com.evil.net/` nor `https://api.example.com@evil.net/`.
    """
    target = urlsplit(url)
    if target.scheme not in ("http", "https") or not target.hostname or target.username:
        return False
    for entry in allowlist:
        allowed = urlsplit(entry)
        if (allowed.scheme, allowed.hostname, allowed.port) != (
            target.scheme,
            target.hostname,
            target.port,
        ):
            continue
        prefix = allowed.path.rstrip("/")
        if target.path == prefix or target.path.startswith(prefix + "/") or not prefix:
            return True
    return False
