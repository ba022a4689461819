"""The unit tier is pure: a test here that binds or connects a socket fails, and belongs in
tests/integration (a real loopback server) or a tier above.

asyncio's event loops still make their internal socket pair (socketpair() neither binds nor
connects), so async unit tests run as usual.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_sockets(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(sock: socket.socket, *args: object, **kwargs: object) -> None:
        raise AssertionError(
            f"{request.node.nodeid} opened a network socket: unit tests are pure; "
            "move it to tests/integration"
        )

    for name in ("bind", "connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    yield
