"""The API's alerts watcher fails /ready when it has been dead too long (no silent death)."""

from __future__ import annotations

from app.api.routes.health import watcher_problem
from app.supervised import Health


def _health(last_success_at: float | None, error: str | None = None) -> Health:
    return Health("alerts.watch", 30.0, 100.0, last_success_at, 0 if error is None else 3, error)


def test_a_watcher_that_passes_is_fine() -> None:
    assert watcher_problem(_health(150.0), now=170.0) is None
    assert watcher_problem(None, now=1e9) is None  # no lifespan, no watcher: nothing to say


def test_a_new_watcher_has_its_stale_time_before_it_counts_as_dead() -> None:
    assert watcher_problem(_health(None), now=129.0) is None
    assert "stale" in (watcher_problem(_health(None), now=131.0) or "")


def test_a_watcher_without_a_pass_for_its_stale_time_fails_and_says_why() -> None:
    problem = watcher_problem(_health(150.0, "OperationalError"), now=181.0)
    assert problem == "stale: no successful pass for 31 s, last error OperationalError"
