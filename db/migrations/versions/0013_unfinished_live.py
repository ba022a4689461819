"""Unfinished runs counted live (issue 13): the statistics triggers write final statuses only,
the readers count pending/running/retrying/accepted runs from the executions table.

Revision ID: 0013
Revises: 0012
"""

from db.migrate import run_sql_file

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0013_unfinished_live_up.sql")
    run_sql_file("0013_stats_triggers.sql")


def downgrade() -> None:
    run_sql_file("0013_unfinished_live_down.sql")
