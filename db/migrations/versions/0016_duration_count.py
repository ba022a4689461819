"""A schedule's duration count is the sum of its duration buckets (issue 13): one delta row
less per fired slot.

Revision ID: 0016
Revises: 0015
"""

from db.migrate import run_sql_file

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0016_duration_count_up.sql")
    run_sql_file("0016_schedule_stats_view.sql")


def downgrade() -> None:
    run_sql_file("0016_duration_count_down.sql")
