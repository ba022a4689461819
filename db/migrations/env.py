"""Alembic environment: plain SQL revisions, each in its own transaction.

One transaction per migration because Procrastinate's upstream migrations add enum values in one
file and use them in the next, which PostgreSQL refuses inside a single transaction.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from db.migrate import sqlalchemy_url

config = context.config
url = config.get_main_option("sqlalchemy.url") or ""


def run_migrations_offline() -> None:
    context.configure(url=sqlalchemy_url(url), literal_binds=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        # db/migrate.py's lock policy: a statement waits this long at most for a lock.
        lock_timeout_ms = config.attributes.get("lock_timeout_ms")
        if lock_timeout_ms is not None:
            connection.exec_driver_sql(
                "SELECT set_config('lock_timeout', %(ms)s, false)",
                {"ms": str(int(lock_timeout_ms))},
            )
            connection.commit()  # a session setting, outside the migrations' transactions
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
