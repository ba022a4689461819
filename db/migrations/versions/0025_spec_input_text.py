"""A schedule's current spec follows its input's text, not only its value (a PATCH from
{"n": 100} to {"n": 100.0} left the spec at 100).

Revision ID: 0025
Revises: 0024
"""

from db.migrate import run_sql_file

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0025_spec_input_text_up.sql")


def downgrade() -> None:
    run_sql_file("0025_spec_input_text_down.sql")
