"""A worker process's seat in the fleet in a column of its own, so that a report refused its
seat is still written (issue 13).

Revision ID: 0032
Revises: 0031
"""

from db.migrate import run_sql_file

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0032_fleet_seat_up.sql")


def downgrade() -> None:
    run_sql_file("0032_fleet_seat_down.sql")
