"""Partial indexes for the recovery sweep's searches (issue 13): in-flight runs by creation,
buffered runs by (schedule, slot); neither reads the accepted runs awaiting their reports.

Revision ID: 0020
Revises: 0019
"""

from db.migrate import run_sql_file

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0020_recovery_indexes_up.sql")


def downgrade() -> None:
    run_sql_file("0020_recovery_indexes_down.sql")
