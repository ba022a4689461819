"""Procrastinate's schema at the pinned version (3.10.0), vendored as SQL.

Later Procrastinate releases ship their changes as `procrastinate/sql/migrations/*.sql`; each of
those becomes a revision of its own after this one (one transaction each).

Revision ID: 0001
Revises:
"""

from db.migrate import run_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("procrastinate_3.10.0_schema.sql")


def downgrade() -> None:
    run_sql_file("0001_procrastinate_down.sql")
