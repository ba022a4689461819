"""Worker loop health: each process's supervised loops and their last successful pass.

Revision ID: 0007
Revises: 0006
"""

from db.migrate import run_sql_file

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0007_loop_health_up.sql")


def downgrade() -> None:
    run_sql_file("0007_loop_health_down.sql")
