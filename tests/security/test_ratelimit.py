"""The manual-run limiter (app/api/ratelimit.py): pure, with an injected clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar.exceptions import TooManyRequestsException

from app.api.ratelimit import TokenBucket, enforce


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=20, clock=clock)
    assert [bucket.take("acme") for _ in range(20)] == [0.0] * 20
    assert bucket.take("acme") == pytest.approx(0.1)  # the next token is 100 ms away
    clock.now += 0.05
    assert bucket.take("acme") == pytest.approx(0.05)
    clock.now += 0.05
    assert bucket.take("acme") == 0.0
    assert bucket.take("acme") > 0
    clock.now += 1.0  # ten more tokens, not more than that
    assert [bucket.take("acme") for _ in range(10)] == [0.0] * 10
    assert bucket.take("acme") > 0


def test_tenants_have_buckets_of_their_own() -> None:
    bucket = TokenBucket(rate=1, burst=2, clock=FakeClock())
    assert [bucket.take("acme") for _ in range(3)][:2] == [0.0, 0.0]
    assert bucket.take("acme") > 0
    assert bucket.take("globex") == 0.0


def test_refusals_take_nothing_and_refill_caps_at_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    for _ in range(3):
        bucket.take("acme")
    for _ in range(100):  # hammering while empty does not push the next token further away
        assert bucket.take("acme") == pytest.approx(0.5)
    clock.now += 3_600
    assert [bucket.take("acme") for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.5)]


def test_a_clock_that_steps_back_refills_nothing() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=1, clock=clock)
    assert bucket.take("acme") == 0.0
    clock.now -= 50
    assert bucket.take("acme") == pytest.approx(1.0)
    clock.now += 1
    assert bucket.take("acme") == 0.0


def test_memory_is_bounded() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=5, clock=clock, max_keys=100)
    for n in range(1_000):
        bucket.take(f"tenant-{n}")
    assert len(bucket._buckets) <= 100
    # A busy tenant is not forgotten while idle, full buckets are dropped first.
    for _ in range(5):
        bucket.take("busy")
    clock.now += 10  # everyone else has refilled; `busy` too, but only after...
    for _ in range(5):
        bucket.take("busy")
    for n in range(99):
        bucket.take(f"new-{n}")
    assert bucket.take("busy") > 0  # ...it was emptied again: still known, still limited


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, burst=0)


def test_enforce_raises_429_with_retry_after() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=0.25, burst=1, clock=clock)
    enforce(bucket, "acme")
    with pytest.raises(TooManyRequestsException) as refused:
        enforce(bucket, "acme")
    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "4"}
    assert "per tenant" in refused.value.detail and "retry in 4 s" in refused.value.detail
    clock.now += 0.999  # never "Retry-After: 0"
    with pytest.raises(TooManyRequestsException) as again:
        enforce(bucket, "acme")
    assert again.value.headers == {"Retry-After": "4"}


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0.1, 100),
    burst=st.integers(1, 50),
    steps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_never_more_than_the_burst_plus_the_rate_times_the_time(
    rate: float, burst: int, steps: list[float]
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=rate, burst=burst, clock=clock)
    start, granted = clock.now, 0
    for step in steps:
        clock.now += step
        if bucket.take("acme") == 0.0:
            granted += 1
    assert granted <= burst + rate * (clock.now - start) + 1e-6
