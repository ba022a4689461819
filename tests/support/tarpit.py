"""A target that accepts connections and never answers (a tarpit), on 127.0.0.1.

    with Tarpit() as tarpit:
        ...  # point a schedule's targetUrl at tarpit.url
        tarpit.connections  # how many connections it has accepted

It holds every connection it accepts open, reads nothing and writes nothing, until it stops:
what a black-holed or deliberately silent target looks like to the worker.
"""

from __future__ import annotations

import socket
import threading


class Tarpit:
    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._held: list[socket.socket] = []
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.url = ""

    @property
    def connections(self) -> int:
        return len(self._held)

    def start(self) -> Tarpit:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(4096)
        sock.settimeout(0.2)  # so that the accept loop sees `stop`
        self._sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True, name="tarpit")
        self._thread.start()
        return self

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(conn)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for conn in self._held:
            conn.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._thread = None

    def __enter__(self) -> Tarpit:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
