"""workflow_schedules vacuumed by its number of dead row versions, not by its size (issue 13).

Revision ID: 0017
Revises: 0016
"""

from db.migrate import run_sql_file

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0017_schedules_autovacuum_up.sql")


def downgrade() -> None:
    run_sql_file("0017_schedules_autovacuum_down.sql")
