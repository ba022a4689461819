"""Workflow outcomes: `accepted` runs that report how their workflow ended, or time out.

Revision ID: 0008
Revises: 0007
"""

from db.migrate import run_sql_file

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0008_outcomes_up.sql")


def downgrade() -> None:
    run_sql_file("0008_outcomes_down.sql")
