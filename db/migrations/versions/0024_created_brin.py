"""The history's index on `created_at` becomes a BRIN index on the range partitions, a B-tree
on the DEFAULT partition only (issue 13: fewer index entries per slot).

Revision ID: 0024
Revises: 0023
"""

from db.migrate import run_sql_file

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0024_created_brin_up.sql")


def downgrade() -> None:
    run_sql_file("0024_created_brin_down.sql")
