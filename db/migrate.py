"""Apply and inspect the Alembic history (`scheduler migrate`, `make migrate`, the tests)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg.errors
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg.rows import dict_row
from sqlalchemy import create_engine, exc, pool

from app.errors import MigrationLocked
from db.queries import query

log = logging.getLogger("db.migrate")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQL_DIR = MIGRATIONS_DIR / "sql"


def sqlalchemy_url(url: str) -> str:
    """DATABASE_URL as SQLAlchemy wants it: with the psycopg 3 driver named."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on '%' in passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@dataclass(frozen=True, slots=True)
class LockPolicy:
    """How long a migration's statement waits for a table lock (`timeout`, seconds), and how
    many times a migration that timed out is tried again. A DDL statement waiting for a lock
    (behind a long transaction of a reader) holds up every statement that asks for a lock on
    the same table after it, the firing's included: a short wait, rolled back and tried again
    later, bounds that stall to `timeout` at a time instead of the reader's whole length."""

    timeout: float
    attempts: int
    max_pause: float = 5.0  # between tries: 0.5 s, doubling up to this


def upgrade(
    url: str,
    revision: str = "head",
    *,
    locks: LockPolicy | None = None,
    pause: Callable[[float], None] = time.sleep,
) -> None:
    """Apply the migrations up to `revision`, each in its own transaction. With `locks`, a
    migration whose statement waited too long for a lock is rolled back and tried again (the
    ones before it stay applied); MigrationLocked when the tries run out. `pause` waits
    between tries (the tests' hook)."""
    config = alembic_config(url)
    if locks is None:
        command.upgrade(config, revision)
        return
    config.attributes["lock_timeout_ms"] = max(1, round(locks.timeout * 1000))
    delay = 0.5
    for attempt in range(1, locks.attempts + 1):
        try:
            command.upgrade(config, revision)
            return
        except (exc.DBAPIError, psycopg.Error) as error:
            # SQL files run on the driver's connection (psycopg's error as it is); statements
            # through SQLAlchemy raise its wrapper.
            cause = error.orig if isinstance(error, exc.DBAPIError) else error
            if not isinstance(cause, psycopg.errors.LockNotAvailable):
                raise
            at = current_revision(url)
            if attempt == locks.attempts:
                raise MigrationLocked(_locked_message(url, at, locks)) from None
            log.warning(
                "a migration waited too long for a table lock; trying again",
                extra={
                    "event": "migrate.lock_timeout",
                    "revision": at,
                    "attempt": attempt,
                    "retry_in_seconds": delay,
                },
            )
            pause(delay)
            delay = min(delay * 2, locks.max_pause)


def _locked_message(url: str, at: str | None, locks: LockPolicy) -> str:
    """What gave up, and the sessions likely in the way (db/queries/health.sql
    migration_lock_holders: never their query)."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        rows = conn.execute(query("migration_lock_holders"), {"wait": locks.timeout}).fetchall()
    holders = "; ".join(
        f"pid {r['pid']} ({r['usename']}: hidden from this role)"
        if r["state"] is None
        else f"pid {r['pid']} ({r['application_name'] or 'no application name'}, {r['state']}, "
        f"transaction open {r['seconds']} s)"
        for r in rows
    )
    return (
        f"the migration after revision {at or 'none'} waited {locks.timeout:g} s for a table "
        f"lock {locks.attempts} times and was rolled back each time (earlier migrations stay "
        f"applied). Sessions with a transaction open longer than that: "
        f"{holders or 'none now'}. End them (pg_terminate_backend) or run `scheduler migrate` "
        "again later (SCHEDULER_MIGRATION_LOCK_TIMEOUT, SCHEDULER_MIGRATION_LOCK_ATTEMPTS)"
    )


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def run_sql_file(name: str) -> None:
    """Run one SQL file of db/migrations/sql inside the current migration's transaction.

    Sent straight to psycopg without parameters, so the '%' and ':' of the SQL are not taken
    for placeholders (SQLAlchemy would pass an empty parameter tuple and psycopg would parse).
    """
    from alembic import op  # only importable while a migration runs

    sql = (SQL_DIR / name).read_text()
    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute(sql.encode())  # no parameters: psycopg parses no placeholders


Step = Callable[[], None]


def sql_revision(
    name: str, *, after: str | None, up: str | None = None
) -> tuple[str, str | None, Step, Step]:
    """A revision made of two SQL files, as `(revision, down_revision, upgrade, downgrade)`
    for a versions/*.py module to unpack. `name` is the revision id, an underscore and a slug
    (`"0005_tenancy"`): it runs sql/<name>_up.sql (or `up`) and sql/<name>_down.sql. `after`
    is the revision it follows, written out so that the chain reads in each file."""
    revision = name.split("_", 1)[0]
    up_file, down_file = up or f"{name}_up.sql", f"{name}_down.sql"

    def upgrade() -> None:
        run_sql_file(up_file)

    def downgrade() -> None:
        run_sql_file(down_file)

    return revision, after, upgrade, downgrade
