"""A real API server on loopback, in a thread of the test process (so tests can inject a clock)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from app.api.app import create_app
from app.api.server import server_options
from app.clock import Clock
from app.settings import Settings
from devtools.loopback import serving
from devtools.tokens import make_token

__all__ = ["make_token", "running_api"]  # make_token: the tests' name for devtools' token maker


@contextmanager
def running_api(settings: Settings, clock: Clock | None = None) -> Iterator[str]:
    """Serve the API until the block ends; yields its base URL."""
    with serving(create_app(settings, clock=clock), name="API", **server_options(settings)) as url:
        yield url
