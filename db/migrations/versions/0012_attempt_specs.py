"""What an execution's attempts send, resolved in one place (issue 15): a view that the start
of an attempt and the read of a run started by its dispatcher both use.

Revision ID: 0012
Revises: 0011
"""

from db.migrate import run_sql_file

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0012_attempt_specs_up.sql")


def downgrade() -> None:
    run_sql_file("0012_attempt_specs_down.sql")
