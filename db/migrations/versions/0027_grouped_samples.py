"""The statistics triggers' deployment-wide samples grouped by bucket before they are expanded
(issue 13): the same deltas, a handful of rows expanded a statement instead of three a run.

Revision ID: 0027
Revises: 0026
"""

from db.migrate import run_sql_file

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0027_grouped_samples_up.sql")
    run_sql_file("0027_stats_on_update.sql")


def downgrade() -> None:
    # 0021's triggers back first, so that no trigger calls the function when it is dropped.
    run_sql_file("0021_stats_triggers.sql")
    run_sql_file("0027_grouped_samples_down.sql")
