"""The history keeps no index of the specs its runs name (issue 13): retention looks for the
unfinished runs naming a superseded spec on the partial index of unfinished runs.

Revision ID: 0028
Revises: 0027
"""

from db.migrate import run_sql_file

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0028_no_spec_index_up.sql")


def downgrade() -> None:
    run_sql_file("0028_no_spec_index_down.sql")
