"""The ids of deleted schedules listed (issue 13): retention looks at those owners only,
not at one row per schedule ever created.

Revision ID: 0014
Revises: 0013
"""

from db.migrate import run_sql_file

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0014_deleted_ids_up.sql")


def downgrade() -> None:
    run_sql_file("0014_deleted_ids_down.sql")
