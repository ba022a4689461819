"""Run ids in time order (issue 13): `wfs_run_id`, the history's default id and the insert's
fallback, so that a new run's index entry is appended instead of landing on a random page.

Revision ID: 0022
Revises: 0021
"""

from db.migrate import run_sql_file

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0022_run_ids_up.sql")


def downgrade() -> None:
    run_sql_file("0022_run_ids_down.sql")
