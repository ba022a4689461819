"""The update trigger samples a batch's start from its new rows alone, without planning a join
at every statement (issue 13).

Revision ID: 0031
Revises: 0030
"""

from db.migrate import run_sql_file

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0031_start_samples_up.sql")


def downgrade() -> None:
    run_sql_file("0030_accepted_ends_up.sql")
