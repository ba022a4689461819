"""Schedules whose current spec lagged behind their input's text (before 0025) get their own
spec, in a transaction after 0025's.

Revision ID: 0026
Revises: 0025
"""

from db.migrate import run_sql_file

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0026_spec_input_resync_up.sql")


def downgrade() -> None:
    run_sql_file("0026_spec_input_resync_down.sql")
