"""How stale a replica is, from WAL positions (app/domain/replication.py)."""

from __future__ import annotations

import pytest

from app.domain.replication import (
    PrimarySample,
    StandbyState,
    judge,
    keep_samples,
    staleness,
)
from app.errors import ConfigError
from app.settings import load_settings

MAX_LAG = 2.0


def standby(
    replayed: int | None, *, paused: bool = False, in_recovery: bool = True
) -> StandbyState:
    return StandbyState(in_recovery=in_recovery, replayed=replayed, paused=paused)


def test_an_idle_primary_does_not_make_a_caught_up_replica_look_stale() -> None:
    # Nothing written for an hour: the position stands still and the replica is at it. (The
    # last replayed commit is an hour old; that is no lag.)
    samples = [PrimarySample(at=float(t), flushed=5_000) for t in range(3_600, 3_604)]
    verdict = judge(samples, standby(5_000), now=3_604.0, max_lag=MAX_LAG)
    assert verdict.usable and verdict.lag_seconds is not None and verdict.lag_seconds <= 1.0


def test_staleness_is_the_age_of_the_latest_sample_the_replica_has_replayed() -> None:
    samples = [PrimarySample(10.0, 100), PrimarySample(10.5, 200), PrimarySample(11.0, 300)]
    assert staleness(samples, 300, now=11.2) == pytest.approx(0.2)
    assert staleness(samples, 250, now=11.2) == pytest.approx(0.7)
    assert staleness(samples, 99, now=11.2) is None  # behind every sample


def test_a_replica_behind_the_bound_is_lagging() -> None:
    samples = [PrimarySample(10.0, 100), PrimarySample(12.0, 200), PrimarySample(13.0, 300)]
    verdict = judge(samples, standby(100), now=13.0, max_lag=MAX_LAG)
    assert not verdict.usable and verdict.reason.startswith("lagging")
    assert verdict.lag_seconds == 3.0


def test_a_disconnected_replica_ages_into_lagging_although_it_replays_all_it_received() -> None:
    # The primary moves on; the replica stays where it was cut off (received == replayed).
    kept: tuple[PrimarySample, ...] = ()
    for step in range(20):
        now = step * 0.5
        kept = keep_samples((*kept, PrimarySample(now, 1_000 + 100 * step)), now, MAX_LAG)
    verdict = judge(kept, standby(1_000), now=9.5, max_lag=MAX_LAG)
    assert not verdict.usable and verdict.reason.startswith("lagging"), verdict


def test_paused_replay_unknown_primary_and_a_non_standby_are_not_usable() -> None:
    samples = [PrimarySample(1.0, 100)]
    assert judge(samples, standby(100, paused=True), 1.1, MAX_LAG).reason == "replay paused"
    assert judge([], standby(100), 1.1, MAX_LAG).reason == "primary position unknown"
    promoted = judge(samples, standby(None, in_recovery=False), 1.1, MAX_LAG)
    assert not promoted.usable and promoted.reason.startswith("not a standby")


def test_samples_kept_cover_the_bound_and_one_older() -> None:
    samples = [PrimarySample(float(t), t) for t in range(10)]
    assert [s.at for s in keep_samples(samples, now=9.0, max_lag=MAX_LAG)] == [6.0, 7.0, 8.0, 9.0]


def test_the_read_url_is_optional_and_must_be_postgresql() -> None:
    assert load_settings(database_read_url="").database_read_url is None  # `DATABASE_READ_URL=`
    url = "postgresql://reader@replica:5432/scheduler"
    assert load_settings(database_read_url=url).database_read_url == url
    with pytest.raises(ConfigError, match="DATABASE_READ_URL: .*postgresql://"):
        load_settings(database_read_url="mysql://replica/scheduler")
    with pytest.raises(ConfigError, match="SCHEDULER_READ_MAX_LAG_SECONDS"):
        load_settings(scheduler_read_max_lag_seconds=0)
