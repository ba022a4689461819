"""Run ids in time order (app/domain/run_ids.py): version 7, the instant first, distinct."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import RFC_4122

from hypothesis import given
from hypothesis import strategies as st

from app.domain.run_ids import made_at_millis, run_id

T0 = datetime(2026, 12, 5, 22, 0, 0, 123_456, tzinfo=UTC)
instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
)


def test_an_id_is_version_7_and_starts_with_its_instant() -> None:
    made = run_id(T0)
    assert made.version == 7
    assert made.variant == RFC_4122
    assert made_at_millis(made) == 1_796_508_000_123  # the instant, to the millisecond


@given(instants, instants)
def test_ids_sort_by_the_instant_they_were_made(a: datetime, b: datetime) -> None:
    if int(a.timestamp() * 1000) < int(b.timestamp() * 1000):
        # bytes: PostgreSQL's uuid order; the UUID's own order is the same
        assert run_id(a).bytes < run_id(b).bytes
        assert run_id(a) < run_id(b)


def test_ids_of_one_millisecond_are_distinct() -> None:
    ids = {run_id(T0) for _ in range(10_000)}
    assert len(ids) == 10_000
    later = run_id(T0 + timedelta(milliseconds=1))
    assert all(made < later for made in ids)
