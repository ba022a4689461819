"""The partial index of unfinished runs keyed by (schedule, slot) (issue 13): a probe of a
schedule's unfinished runs since the unfinished floor reads only those, never the schedule's
finished history since the floor.

Revision ID: 0019
Revises: 0018
"""

from db.migrate import run_sql_file

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0019_unfinished_by_slot_up.sql")


def downgrade() -> None:
    run_sql_file("0019_unfinished_by_slot_down.sql")
