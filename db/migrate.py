"""Apply and inspect the Alembic history (`scheduler migrate`, `make migrate`, the tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

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


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


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
