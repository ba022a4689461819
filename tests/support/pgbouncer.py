"""A real PgBouncer (Debian's `pgbouncer`, installed by .ci/run) in front of the suite's
PostgreSQL, in session pool mode, for the tests that run workers and the API through it.

Its ini and userlist live in a temporary folder. Authentication matches the test cluster:
`trust` (the user must still be listed in the auth file, as PgBouncer requires), and PgBouncer
logs in to PostgreSQL as that user over loopback, where the cluster trusts it. Any database
name is forwarded to the same name on the cluster (`*`), so the per-test databases work.

PgBouncer refuses to run as root: as root it is started with `-u postgres` (its own switch of
identity, so the process we hold is PgBouncer itself and can be stopped by its pid), on files
that user can read, as devtools/localpg.py does for the server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from devtools.localpg import SERVER_USER
from devtools.loopback import free_port

BINARY_CANDIDATES = ("pgbouncer", "/usr/sbin/pgbouncer")
USER = "postgres"


def pgbouncer_binary() -> str:
    for candidate in BINARY_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise AssertionError("pgbouncer is not installed (apt-get install pgbouncer)")


class PgBouncer:
    """One PgBouncer process on a loopback port of its own; `restart` keeps the port."""

    def __init__(self, server_port: int, *, pool_mode: str = "session") -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="wfs-pgbouncer-"))
        self.log_path = self.folder / "pgbouncer.log"
        self.ini = self.folder / "pgbouncer.ini"
        (self.folder / "userlist.txt").write_text(f'"{USER}" ""\n')
        self.ini.write_text(
            "\n".join(
                [
                    "[databases]",
                    f"* = host=127.0.0.1 port={server_port}",
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {self.port}",
                    "unix_socket_dir =",
                    "auth_type = trust",
                    f"auth_file = {self.folder / 'userlist.txt'}",
                    f"pool_mode = {pool_mode}",
                    # Session mode holds one server connection per client connection: the pool
                    # must cover every connection of the workers, the API and the test.
                    "default_pool_size = 150",
                    "max_client_conn = 1000",
                    f"logfile = {self.log_path}",
                    "",
                ]
            )
        )
        if os.geteuid() == 0:
            shutil.chown(self.folder, SERVER_USER)
            for path in self.folder.iterdir():
                shutil.chown(path, SERVER_USER)
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, dbname: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{dbname}"

    def url_for(self, database_url: str) -> str:
        """The same database as `database_url` (a cluster URL), reached through PgBouncer."""
        return self.url(database_url.rsplit("/", 1)[1])

    def start(self, timeout: float = 10.0) -> PgBouncer:
        argv = [pgbouncer_binary()]
        if os.geteuid() == 0:
            argv += ["-u", SERVER_USER]
        self.process = subprocess.Popen(
            [*argv, str(self.ini)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise AssertionError(f"pgbouncer did not start:\n{self.log()}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """Stop at once (SIGTERM is PgBouncer's immediate shutdown): every client connection
        and every server connection it held is closed."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
