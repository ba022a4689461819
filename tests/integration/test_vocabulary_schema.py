"""The migrated schema speaks the domain's vocabulary (app/domain/execution.py,
app/domain/schedule.py): its `CHECK`s allow exactly the domain's statuses, origins, states,
policies and report statuses, its `DEFAULT`s are the domain's defaults, and every list of
statuses in its partial indexes, functions and triggers is one of the domain's named sets.

Read from the database the migrations built (the last definition of each object wins), not
from the migration files.
"""

from __future__ import annotations

import re
from typing import Any, get_args

import psycopg
import pytest
from psycopg import sql

from app.domain import execution as ex
from app.domain.callbacks import ReportStatus
from app.domain.schedule import MISFIRE_POLICIES, OVERLAP_POLICIES, SCHEDULE_DEFAULTS, STATES
from tests.unit.test_vocabulary import NAMED_SETS, named

Db = psycopg.Connection[tuple[Any, ...]]
SCHEDULES = "workflow_schedules"
EXECUTIONS = "workflow_schedule_executions"
# `'a'::text` inside `ARRAY[...]` (what PostgreSQL makes of `IN ('a', ...)`), or `IN (...)`.
LITERAL = re.compile(r"'([a-z_.]+)'(?:::text)?")
LIST = re.compile(r"ARRAY\[([^\]]*)\]|\bIN\s*\(\s*('[^()]*')\s*\)", re.IGNORECASE)


def allowed(db: Db, table: str, column: str) -> set[str]:
    """The values the table's CHECKs on `column IN (...)` allow."""
    rows = db.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'c'",
        (table,),
    ).fetchall()
    for (definition,) in rows:
        if re.match(rf"CHECK \(\({column} = ANY", definition):
            return set(LITERAL.findall(definition))
    raise AssertionError(f"no CHECK on {table}.{column}")


def status_lists(text: str) -> list[frozenset[str]]:
    lists = []
    for match in LIST.finditer(text):
        values = frozenset(LITERAL.findall(match.group(1) or match.group(2)))
        if values and values <= set(ex.STATUSES):
            lists.append(values)
    return lists


@pytest.mark.parametrize(
    ("table", "column", "vocabulary"),
    [
        (EXECUTIONS, "status", ex.STATUSES),
        (EXECUTIONS, "trigger", ex.ORIGINS),
        (SCHEDULES, "state", STATES),
        (SCHEDULES, "overlap_policy", OVERLAP_POLICIES),
        (SCHEDULES, "misfire_policy", MISFIRE_POLICIES),
        ("workflow_execution_reports", "status", get_args(ReportStatus)),
    ],
)
def test_the_checks_allow_exactly_the_domains_values(
    db: Db, table: str, column: str, vocabulary: tuple[str, ...]
) -> None:
    assert allowed(db, table, column) == set(vocabulary)


def test_every_partition_of_the_history_has_the_same_checks(db: Db) -> None:
    partitions = db.execute(
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass",
        (EXECUTIONS,),
    ).fetchall()
    assert partitions
    for (partition,) in partitions:
        assert allowed(db, partition, "status") == set(ex.STATUSES), partition


def test_the_column_defaults_are_the_domains(db: Db) -> None:
    rows = db.execute(
        "SELECT column_name, column_default FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = %s",
        (SCHEDULES,),
    ).fetchall()
    defaults = dict(rows)
    for name, value in SCHEDULE_DEFAULTS.items():
        expression = defaults[name]
        if value is None:
            assert expression is None, name
            continue
        assert expression is not None, f"{SCHEDULES}.{name} has no DEFAULT (the domain: {value!r})"
        (stored,) = db.execute(sql.SQL("SELECT {}").format(sql.SQL(expression))).fetchone() or ()
        assert stored == value, name


def test_every_status_list_in_the_schema_is_a_named_set(db: Db) -> None:
    indexes = db.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename LIKE %s",
        (f"{EXECUTIONS}%",),
    ).fetchall()
    functions = db.execute(
        "SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " JOIN pg_language l ON l.oid = p.prolang"
        " WHERE n.nspname = 'public' AND l.lanname IN ('sql', 'plpgsql')"
    ).fetchall()
    triggers = db.execute(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal"
    ).fetchall()
    views = db.execute(
        "SELECT definition FROM pg_views WHERE schemaname = 'public'"
    ).fetchall()  # workflow_unfinished_executions (migration 0012) names UNFINISHED
    seen = 0
    for (text,) in [*indexes, *functions, *triggers, *views]:
        for values in status_lists(text):
            seen += 1
            assert named(values), (
                f"IN {sorted(values)} is none of {', '.join(NAMED_SETS)}:\n{text[:300]}"
            )
    assert seen >= 6  # the partial indexes, the history functions and the views name the sets
