"""The scheduler's tables: schedules, executions, API tokens.

Revision ID: 0002
Revises: 0001
"""

from db.migrate import run_sql_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0002_scheduler_up.sql")


def downgrade() -> None:
    run_sql_file("0002_scheduler_down.sql")
