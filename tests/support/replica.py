"""A real streaming replica for the DATABASE_READ_URL tests: a primary cluster and a hot
standby made from it with `pg_basebackup -R`, on the binaries the suite uses (devtools/localpg.py).

Why a primary of its own rather than the suite's cluster: by the time these tests run, the
suite's cluster holds a database per earlier test (~8.5 MB each, hundreds of them), so a base
backup of it would copy gigabytes, and a standby attached to it would replay every later test's
CREATE DATABASE. A fresh primary with one migrated template backs up in about a second, and
idle, it costs the rest of the suite nothing. Both are made at most once per test session, by
the first test that asks (tests/conftest.py `streaming_pair`).

Replication needs `wal_level` above minimal, WAL senders and a `replication` line in pg_hba:
initdb's defaults have all three (trust on loopback, as the suite's cluster has);
`ensure_replication` checks and sets what is missing.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

from devtools.localpg import SERVER_USER, LocalCluster
from devtools.loopback import free_port

STANDBY_NAME = "wfs-standby"


def _as_server_user(argv: list[str]) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        argv = ["runuser", "-u", SERVER_USER, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def ensure_replication(cluster: LocalCluster) -> None:
    """Make `cluster` accept a streaming standby from 127.0.0.1 (restarting it only when
    wal_level or max_wal_senders must change)."""
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        restart = False
        if conn.execute("SHOW wal_level").fetchone() == ("minimal",):
            conn.execute("ALTER SYSTEM SET wal_level = replica")
            restart = True
        if conn.execute("SHOW max_wal_senders").fetchone() == ("0",):
            conn.execute("ALTER SYSTEM SET max_wal_senders = 4")
            restart = True
        hba = conn.execute(
            "SELECT count(*) FROM pg_hba_file_rules WHERE type = 'host' "
            "AND 'replication' = ANY(database) AND address = '127.0.0.1'"
        ).fetchone()
        if hba == (0,):
            path = conn.execute("SHOW hba_file").fetchone()
            assert path is not None
            with Path(path[0]).open("a") as hba_file:
                hba_file.write("host replication all 127.0.0.1/32 trust\n")
            conn.execute("SELECT pg_reload_conf()")
    if restart:
        cluster.restart()


class StreamingPair:
    """A primary and its hot standby on loopback ports of their own."""

    def __init__(self, base: Path) -> None:
        self.primary = LocalCluster(base / "primary", free_port(), fast_and_unsafe=True)
        self.standby = LocalCluster(base / "standby", free_port(), fast_and_unsafe=True)

    def start(self, timeout: float = 30.0) -> StreamingPair:
        self.primary.start()
        ensure_replication(self.primary)
        done = _as_server_user(
            [
                self.primary.binaries.program("pg_basebackup"),
                "--pgdata",
                str(self.standby.datadir),
                "--write-recovery-conf",  # standby.signal and primary_conninfo
                "--wal-method=stream",
                "--checkpoint=fast",
                "--no-sync",  # thrown away with the test run
                "--dbname",
                f"host=127.0.0.1 port={self.primary.port} user=postgres "
                f"application_name={STANDBY_NAME}",
            ]
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_basebackup failed: {done.stderr.strip()}")
        self.standby.start()
        self.wait_streaming(timeout)
        return self

    def wait_streaming(self, timeout: float = 30.0) -> None:
        """Until the primary's WAL sender streams to the standby."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.primary.url(), autocommit=True) as conn:
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT state FROM pg_stat_replication WHERE application_name = %s",
                    (STANDBY_NAME,),
                ).fetchone()
                if row == ("streaming",):
                    return
                time.sleep(0.05)
        raise AssertionError(f"the standby is not streaming:\n{self.standby_log()}")

    def create_database(self, name: str, template: str | None = None) -> tuple[str, str]:
        """A database made on the primary, once the standby has replayed it: its URLs on the
        primary and on the standby."""
        url = self.primary.create_database(name, template=template)
        self.wait_replayed()
        return url, self.standby.url(name)

    def wait_replayed(self, timeout: float = 30.0) -> None:
        """Until the standby has replayed everything the primary had flushed when asked."""
        with psycopg.connect(self.primary.url(), autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()
        assert row is not None
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.standby.url(), autocommit=True) as conn:
            while time.monotonic() < deadline:
                done = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (row[0],)
                ).fetchone()
                if done == (True,):
                    return
                time.sleep(0.02)
        raise AssertionError("the standby did not catch up")

    # -- faults -------------------------------------------------------------------------------
    def pause_replay(self) -> None:
        with psycopg.connect(self.standby.url(), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        with psycopg.connect(self.standby.url(), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def delay_apply(self, seconds: int) -> None:
        """Make the standby apply each commit `seconds` after it was made on the primary
        (`recovery_min_apply_delay`; 0: at once): a replica that falls behind."""
        with psycopg.connect(self.standby.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER SYSTEM SET recovery_min_apply_delay = {}").format(
                    sql.Literal(f"{seconds}s")
                )
            )
            conn.execute("SELECT pg_reload_conf()")

    def heal(self) -> None:
        """The standby running, replaying and streaming again, whatever a test did to it."""
        if not self.standby.is_running():
            self.standby.start()
        with psycopg.connect(self.standby.url(), autocommit=True) as conn:
            if conn.execute("SHOW recovery_min_apply_delay").fetchone() != ("0",):
                conn.execute("ALTER SYSTEM RESET recovery_min_apply_delay")
                conn.execute("SELECT pg_reload_conf()")
            if conn.execute("SELECT pg_is_wal_replay_paused()").fetchone() == (True,):
                conn.execute("SELECT pg_wal_replay_resume()")
        self.wait_streaming()

    def standby_log(self) -> str:
        with contextlib.suppress(OSError):
            return self.standby.log_file.read_text(errors="replace")[-3000:]
        return ""

    def destroy(self) -> None:
        self.standby.destroy()
        self.primary.destroy()


@contextlib.contextmanager
def streaming_pair(base: Path) -> Iterator[StreamingPair]:
    pair = StreamingPair(base)
    try:
        yield pair.start()
    finally:
        pair.destroy()
