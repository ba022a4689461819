"""How stale a streaming replica is, judged from WAL positions (DATABASE_READ_URL, issue 13).

Reads that tolerate lag go to a replica only while it is known to be at most `max_lag` seconds
behind the primary. Known, not assumed: the API samples the primary's flushed WAL position now
and then (`PrimarySample`) and the replica's replayed position (`StandbyState`). Everything the
primary had flushed at a sample's instant is visible on the replica once the replica has
replayed up to that sample's position; so the replica is at most `now - t` seconds stale, for
the latest sample `t` its replay position has reached.

Why not the usual `now() - pg_last_xact_replay_timestamp()`: on an idle primary nothing
commits, so the last replayed commit grows old although the replica lacks nothing (every quiet
minute would look like a minute of lag); and its variant that reports 0 when the received and
replayed positions are equal reports 0 for a replica that lost its connection to the primary
and receives nothing at all. Comparing positions with the primary's has neither flaw: an idle
primary's position stands still and a caught-up replica is at it; a disconnected replica
stays behind the samples, which age until it counts as lagging.

Pure: positions are byte offsets in the WAL (`pg_wal_lsn_diff(lsn, '0/0')`), instants are
`time.monotonic()` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PrimarySample:
    at: float  # monotonic seconds, read just before the primary was asked
    flushed: int  # the primary's flushed WAL position (bytes)


@dataclass(frozen=True, slots=True)
class StandbyState:
    in_recovery: bool  # False: the server is not a standby (a primary, or promoted)
    replayed: int | None  # its last replayed WAL position (bytes)
    paused: bool  # replay paused (pg_wal_replay_pause): it will not see the next write


@dataclass(frozen=True, slots=True)
class ReadVerdict:
    """Whether reads may go to the replica now, and why (for the logs, /ready and /metrics)."""

    usable: bool
    reason: str  # "replica" when usable; else what is wrong, without secrets
    lag_seconds: float | None  # an upper bound of the replica's staleness, when known

    @property
    def state(self) -> str:
        return "replica" if self.usable else "primary"


NOT_PROBED = ReadVerdict(False, "not probed yet", None)


def staleness(samples: Sequence[PrimarySample], replayed: int, now: float) -> float | None:
    """An upper bound of how many seconds the replica's data is behind the primary's: `now`
    minus the latest sample whose position it has replayed. None when it has replayed none of
    `samples` (behind the oldest: at least `now - samples[0].at`). `samples` are oldest first."""
    for sample in reversed(samples):
        if replayed >= sample.flushed:
            return max(0.0, now - sample.at)
    return None


def judge(
    samples: Sequence[PrimarySample], standby: StandbyState, now: float, max_lag: float
) -> ReadVerdict:
    """Whether the replica may serve reads: a standby, replaying, at most `max_lag` behind."""
    if not standby.in_recovery or standby.replayed is None:
        return ReadVerdict(False, "not a standby (not in recovery)", None)
    if not samples:
        return ReadVerdict(False, "primary position unknown", None)
    lag = staleness(samples, standby.replayed, now)
    if lag is None:
        lag = now - samples[0].at  # behind every sample kept: at least this old
        return ReadVerdict(False, f"lagging: more than {lag:.1f} s behind", lag)
    if standby.paused:
        # Caught up now, but the next write will not appear: as good as lagging.
        return ReadVerdict(False, "replay paused", lag)
    if lag > max_lag:
        return ReadVerdict(False, f"lagging: {lag:.1f} s behind", lag)
    return ReadVerdict(True, "replica", lag)


def keep_samples(
    samples: Sequence[PrimarySample], now: float, max_lag: float
) -> tuple[PrimarySample, ...]:
    """The samples worth keeping: every one younger than `max_lag`, and the youngest older one
    (a replica that has replayed it is within the bound by at most the sampling period)."""
    young = [s for s in samples if now - s.at <= max_lag]
    old = [s for s in samples if now - s.at > max_lag]
    return tuple(old[-1:] + young)
