"""The Alembic history: upgrade → downgrade → upgrade, and Procrastinate's objects exactly as
`procrastinate schema --apply` creates them at the pinned version."""

from __future__ import annotations

import psycopg
import pytest
from procrastinate import App, SyncPsycopgConnector

from app.errors import MigrationLocked
from db import migrate
from devtools.localpg import LocalCluster

CATALOG_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, column_default, is_nullable
        FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name LIKE %(prefix)s""",
    "indexes": """
        SELECT indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' AND tablename LIKE %(prefix)s""",
    "constraints": """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
        WHERE t.relname LIKE %(prefix)s""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proname LIKE %(prefix)s""",
    "enum_labels": """
        SELECT t.typname, e.enumlabel, e.enumsortorder
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
        WHERE t.typname LIKE %(prefix)s""",
    "types": """
        SELECT t.typname, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typname LIKE %(prefix)s""",
    "triggers": """
        SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
        WHERE NOT tgisinternal AND tgname LIKE %(prefix)s""",
}


def catalog(url: str, prefix: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            name: sorted(conn.execute(sql, {"prefix": prefix}).fetchall(), key=repr)  # type: ignore[arg-type]
            for name, sql in CATALOG_QUERIES.items()
        }


def user_objects(url: str) -> list[tuple[object, ...]]:
    """Every table, type and function in `public` (alembic's own table aside)."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            """SELECT 'rel', relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND relname NOT LIKE 'alembic_version%%'
               UNION ALL SELECT 'proc', proname FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
               UNION ALL SELECT 'type', typname FROM pg_type t
               JOIN pg_namespace n ON n.oid = t.typnamespace
               WHERE n.nspname = 'public' AND typname NOT LIKE '\\_%%'
                 AND typrelid = 0"""
        ).fetchall()


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    first = catalog(url, "%")
    migrate.downgrade(url, "base")
    assert migrate.current_revision(url) is None
    assert user_objects(url) == [], "downgrade to base must leave nothing behind"
    migrate.upgrade(url)
    assert catalog(url, "%") == first


def test_procrastinate_objects_equal_schema_apply(
    pg_cluster: LocalCluster, empty_database_url: str
) -> None:
    ours = empty_database_url
    migrate.upgrade(ours)
    theirs = pg_cluster.create_database(empty_database_url.rsplit("/", 1)[1] + "_reference")
    app = App(connector=SyncPsycopgConnector(conninfo=theirs))
    with app.open():
        app.schema_manager.apply_schema()
    ours_catalog, theirs_catalog = (
        catalog(ours, "procrastinate%"),
        catalog(theirs, "procrastinate%"),
    )
    for name in CATALOG_QUERIES:
        assert ours_catalog[name] == theirs_catalog[name], name
    assert ours_catalog["functions"], "the catalog query found no procrastinate functions"


@pytest.mark.parametrize(
    "table", ["workflow_schedules", "workflow_schedule_executions", "api_tokens"]
)
def test_scheduler_tables_exist(database_url: str, table: str) -> None:
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (table,)


def test_executions_keep_the_replaced_systems_columns(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        columns = {
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'workflow_schedule_executions'"
            )
        }
    assert {
        "id",
        "trigger_id",
        "workflow_id",
        "scheduled_at",
        "executed_at",
        "status",
        "duration_ms",
        "error",
        "started_at",
        "finished_at",
        "attempts",
        "trigger",
        "http_status",
        "workflow_run_id",
        "tenant",
    } <= columns


def test_one_execution_per_slot(db: psycopg.Connection[tuple[object, ...]]) -> None:
    insert = (
        "INSERT INTO workflow_schedule_executions (trigger_id, workflow_id, tenant, "
        "scheduled_at) VALUES ('6f1c1a52-8a8e-4a57-9f43-3d1b2f0c7e11', 'wf', 't', "
        "'2026-01-01T00:00:00Z')"
    )
    db.execute(insert)
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(insert)


def test_a_migration_waiting_for_a_lock_gives_way_and_tries_again(empty_database_url: str) -> None:
    """0028 drops an index of the history (ACCESS EXCLUSIVE). Behind a reader's long
    transaction, its DROP waited as long as the reader, and every write of the history queued
    behind the DROP: firing stopped. With a lock policy, each try waits a bounded time and is
    rolled back, so a write gets through between tries; the tries that run out name the
    reader's session; the migration goes through once the reader is gone."""
    url = empty_database_url
    migrate.upgrade(url, "0027")
    policy = migrate.LockPolicy(timeout=0.2, attempts=3)
    pauses: list[float] = []
    with psycopg.connect(url, application_name="long-report") as reader:
        reader.execute("SELECT count(*) FROM workflow_schedule_executions")  # its lock held
        with psycopg.connect(url, autocommit=True) as writer:

            def write_between_tries(seconds: float) -> None:
                pauses.append(seconds)
                writer.execute("SET lock_timeout = '5s'")  # fails rather than hang the test
                writer.execute(
                    "INSERT INTO workflow_schedule_executions"
                    " (trigger_id, workflow_id, tenant, scheduled_at, status)"
                    " VALUES (gen_random_uuid(), 'wf', 'acme', now(), 'pending')"
                )

            with pytest.raises(MigrationLocked) as refused:
                migrate.upgrade(url, "0028", locks=policy, pause=write_between_tries)
        assert pauses == [0.5, 1.0]  # three tries, two pauses, each pause a write got through
        assert f"pid {reader.info.backend_pid} (long-report" in refused.value.message
        assert "revision 0027" in refused.value.message
        assert migrate.current_revision(url) == "0027"
    migrate.upgrade(url, "0028", locks=policy, pause=pauses.append)
    assert migrate.current_revision(url) == "0028"
