"""Loopback servers: a free port, and an ASGI app served on 127.0.0.1 in a background thread.

`serving(app)` is how the tests run the API, the recording target and the demo target: uvicorn
in a daemon thread with its own event loop, on a socket bound before the thread starts, so the
port is known when the block begins and never raced for. (The benchmark's target is a raw
asyncio protocol in its own process: it measures, so it stays out of uvicorn.)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

LOOPBACK = "127.0.0.1"
BACKLOG = 2048  # uvicorn's own default: a burst of connections waits instead of being refused


def free_port() -> int:
    """A TCP port on loopback that nobody listens on right now (another may take it later:
    `serving` binds its own socket instead)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _listening_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A given port can be served again right after an earlier server on it stopped.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


@contextmanager
def serving(
    app: Any, *, port: int = 0, name: str = "server", start_timeout: float = 20.0, **options: Any
) -> Iterator[str]:
    """Serve the ASGI `app` on 127.0.0.1 until the block ends; yields `http://127.0.0.1:<port>`.

    `port` 0: a free one. `options` are uvicorn.Config's (the API passes `server_options`); by
    default no logging configuration of uvicorn's own, no access log, and the lifespan is run.
    Raises RuntimeError when the server has not started within `start_timeout` seconds. On
    exit the server stops gracefully (`timeout_graceful_shutdown` bounds it when given), and
    is forced to after 10 s more.
    """
    config = uvicorn.Config(
        app, **{"log_config": None, "access_log": False, "lifespan": "on", **options}
    )
    server = uvicorn.Server(config)
    sock = _listening_socket(port)
    address = f"{LOOPBACK}:{sock.getsockname()[1]}"
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=name)
    try:
        thread.start()
        deadline = time.monotonic() + start_timeout
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"the {name} did not start on {address}")
            time.sleep(0.005)
        yield f"http://{address}"
    finally:
        server.should_exit = True
        if thread.is_alive():
            thread.join(timeout=10)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        sock.close()
