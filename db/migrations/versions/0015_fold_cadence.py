"""The statistics fold at one cadence for the deployment (issue 13): the instant of the last
fold, whatever the number of workers.

Revision ID: 0015
Revises: 0014
"""

from db.migrate import run_sql_file

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0015_fold_cadence_up.sql")


def downgrade() -> None:
    run_sql_file("0015_fold_cadence_down.sql")
