"""Cheaper slots (issue 13): a run its dispatcher starts as it inserts it is counted by the
insert's statistics trigger, fire lag included.

Revision ID: 0011
Revises: 0010
"""

from db.migrate import run_sql_file

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0011_cheaper_slots_up.sql")


def downgrade() -> None:
    run_sql_file("0011_cheaper_slots_down.sql")
