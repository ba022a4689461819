"""The benchmark's own PostgreSQL cluster, in a temporary folder, destroyed at the end.

Durable by default (fsync and synchronous_commit on, as in production): the numbers are honest.
`--unsafe` turns them off (like the test suite) and every report says which it was.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psutil
import psycopg
from psycopg import sql

from db.migrate import upgrade
from devtools.localpg import LocalCluster
from devtools.loopback import free_port

TEMPLATE = "bench_template"


class BenchCluster:
    def __init__(self, *, unsafe: bool = False) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="wfs-bench-"))
        base = self.base
        base.chmod(0o755)  # the server runs as `postgres`, which must reach its data directory
        self.unsafe = unsafe
        self.cluster = LocalCluster(base / "pg", free_port(), fast_and_unsafe=unsafe)
        self._template_ready = False
        self._databases = 0

    def start(self) -> None:
        self.cluster.start()

    def destroy(self) -> None:
        self.cluster.destroy()
        shutil.rmtree(self.base, ignore_errors=True)

    @property
    def durability(self) -> str:
        return (
            "fsync=off, synchronous_commit=off (--unsafe)"
            if self.unsafe
            else "fsync=on, synchronous_commit=on (durable, production settings)"
        )

    def server_version(self) -> str:
        with psycopg.connect(self.cluster.url(), autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def migrated_database(self, name: str) -> str:
        """A fresh database at the migrations' head (cloned from a template migrated once)."""
        if not self._template_ready:
            upgrade(self.cluster.create_database(TEMPLATE))
            self._template_ready = True
        return self.cluster.create_database(name, template=TEMPLATE)

    def empty_database(self, name: str) -> str:
        return self.cluster.create_database(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.cluster.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def cpu_seconds(self) -> float:
        """CPU (user + system) used so far by the server: the postmaster, its live backends and
        the children it has reaped. Deltas of this give the database's share of a phase."""
        pid_file = self.cluster.datadir / "postmaster.pid"
        try:
            main = psutil.Process(int(pid_file.read_text().split()[0]))
            total = sum(main.cpu_times()[:4])  # user, system, children_user, children_system
            for child in main.children():
                try:
                    times = child.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            return total
        except (OSError, ValueError, psutil.Error):
            return 0.0
