"""A finished run's statistics of its schedule in one delta row instead of three (issue 13):
wfs_outcome_metrics expands it, workflow_schedule_unfolded_stats shows every delta narrow.

Revision ID: 0021
Revises: 0020
"""

from db.migrate import run_sql_file

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0021_outcome_deltas_up.sql")
    run_sql_file("0021_stats_triggers.sql")


def downgrade() -> None:
    # 0016's psql view first: it stops reading the view this downgrade drops.
    run_sql_file("0016_schedule_stats_view.sql")
    run_sql_file("0021_outcome_deltas_down.sql")
    run_sql_file("0013_stats_triggers.sql")
