"""The update trigger samples the end of accepted runs (a report, a timeout, a heartbeat) from
the new rows alone, without planning a join at every statement (issue 13).

Revision ID: 0030
Revises: 0029
"""

from db.migrate import run_sql_file

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0030_accepted_ends_up.sql")


def downgrade() -> None:
    run_sql_file("0027_stats_on_update.sql")
