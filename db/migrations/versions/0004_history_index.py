"""Drop the history index that duplicated the slot key.

Revision ID: 0004
Revises: 0003
"""

from db.migrate import run_sql_file

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0004_history_index_up.sql")


def downgrade() -> None:
    run_sql_file("0004_history_index_down.sql")
