"""The benchmark's own PostgreSQL cluster, in a temporary folder, destroyed at the end.

Durable by default (fsync and synchronous_commit on, as in production): the numbers are honest.
`--unsafe` turns them off (like the test suite) and every report says which it was.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql

from db.migrate import upgrade
from devtools.localpg import LocalCluster
from devtools.loopback import free_port

TEMPLATE = "bench_template"
TOP_STATEMENTS = """
SELECT s.query, s.calls, s.rows, s.total_exec_time + s.total_plan_time, s.total_plan_time
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = %(database)s
ORDER BY s.total_exec_time + s.total_plan_time DESC
LIMIT %(limit)s
"""


def _label(query: str) -> str:
    """A statement's first comment line (what a named query does), else its first 90 chars."""
    for line in query.splitlines():
        line = line.strip()
        if line.startswith("--"):
            return line.lstrip("- ")[:90]
        if line:
            return " ".join(query.split())[:90]
    return "?"


class BenchCluster:
    def __init__(self, *, unsafe: bool = False, statements: bool = False) -> None:
        """`statements`: pg_stat_statements loaded, and the steady phases of ours report the
        statements that cost PostgreSQL the most (`top_statements`)."""
        self.base = Path(tempfile.mkdtemp(prefix="wfs-bench-"))
        base = self.base
        base.chmod(0o755)  # the server runs as `postgres`, which must reach its data directory
        self.unsafe = unsafe
        self.statements = statements
        self.cluster = LocalCluster(
            base / "pg",
            free_port(),
            fast_and_unsafe=unsafe,
            preload=("pg_stat_statements",) if statements else (),
        )
        self._template_ready = False
        self._databases = 0

    def start(self) -> None:
        self.cluster.start()
        if self.statements:
            with psycopg.connect(self.cluster.url(), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def reset_statements(self) -> None:
        if self.statements:
            with psycopg.connect(self.cluster.url(), autocommit=True) as conn:
                conn.execute("SELECT pg_stat_statements_reset()")

    def top_statements(self, database: str, per: int, limit: int = 15) -> list[dict[str, Any]]:
        """The statements of `database` that took PostgreSQL the most time since the last
        reset: calls, rows and time (execution + planning) each per `per` (slots), and the
        statement's first comment line (our named queries start with what they do)."""
        if not self.statements:
            return []
        with psycopg.connect(self.cluster.url(), autocommit=True) as conn:
            rows = conn.execute(TOP_STATEMENTS, {"database": database, "limit": limit}).fetchall()
        return [
            {
                "statement": _label(query),
                "calls_per_slot": calls / per,
                "rows_per_slot": count / per,
                "us_per_slot": 1000 * ms / per,
                "plan_us_per_slot": 1000 * plan_ms / per,
            }
            for query, calls, count, ms, plan_ms in rows
        ]

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
