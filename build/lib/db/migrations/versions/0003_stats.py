"""Statistics: per-statement deltas from triggers, folded into values; psql views.

Revision ID: 0003
Revises: 0002
"""

from db.migrate import run_sql_file

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0003_stats_up.sql")


def downgrade() -> None:
    run_sql_file("0003_stats_down.sql")
