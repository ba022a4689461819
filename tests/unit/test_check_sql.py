"""devtools/check_sql.py (run by `make check`): SQL reaches the database only as a named query."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devtools.check_sql import offenders_in

ROOT = Path(__file__).resolve().parents[2]

BAD = """
from psycopg import sql

TABLE = "workflow_schedules"


async def built(conn, tenant, name):
    await conn.execute(f"SELECT * FROM t WHERE tenant = '{tenant}'")
    await conn.execute("SELECT * FROM t WHERE tenant = '" + tenant + "'")
    await conn.execute("SELECT * FROM t WHERE tenant = %s" % tenant)
    await conn.execute("SELECT {}".format(name))
    statement = f"DELETE FROM {TABLE}"
    await conn.execute(statement)
    await conn.execute("SELECT 1")
    await conn.execute(sql.SQL("SELECT {}").format(sql.Identifier(name)))
    await conn.execute(sql.SQL(name))
"""

GOOD = """
from db.queries import query


async def named(conn, tenant):
    await conn.execute(query("schedule_get"), {"tenant": tenant})
    statement = query("schedule_list") if tenant else query("schedule_list_all")
    await conn.execute(statement, {"tenant": tenant})
"""


def test_sql_built_from_strings_or_written_in_code_is_reported() -> None:
    lines = offenders_in("app/services/bad.py", BAD)
    assert [line.split(":")[1] for line in lines] == [
        "8",
        "9",
        "10",
        "11",
        "13",
        "14",
        "15",
        "16",
        "16",
    ], lines
    assert lines[-1].endswith("sql.SQL of something other than a literal")


def test_named_queries_pass() -> None:
    assert offenders_in("app/services/good.py", GOOD) == []


def test_the_script_fails_on_a_bad_tree_and_passes_on_ours(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "bad.py").write_text(BAD)
    bad = _run(str(tmp_path))
    assert bad.returncode == 1
    assert 'app/bad.py:8: execute(f"SELECT' in bad.stderr
    ours = _run(str(ROOT))
    assert ours.returncode == 0, ours.stderr


def _run(root: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devtools.check_sql", root],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_scan_sees_the_repositories_calls() -> None:
    """Not vacuous: the repositories' own calls are checked (their queries made plain text
    would be reported)."""
    path = "db/repositories/schedules.py"
    source = (ROOT / path).read_text()
    assert offenders_in(path, source) == []
    assert len(offenders_in(path, source.replace("query(", "str("))) >= 5
