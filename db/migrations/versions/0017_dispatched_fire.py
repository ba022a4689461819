"""Each schedule keeps the fire instant of the latest run its dispatcher fired (issue 13): the
dispatcher's wake sees that the next instant's schedules wait for a run not sent yet without
probing the history for each.

Revision ID: 0017
Revises: 0016
"""

from db.migrate import run_sql_file

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0017_dispatched_fire_up.sql")


def downgrade() -> None:
    run_sql_file("0017_dispatched_fire_down.sql")
