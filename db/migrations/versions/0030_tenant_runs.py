"""A tenant's runs of one unfinished status read from the statistics' counts, not counted
row by row: the cap of runs in flight costs a few rows, whatever the runs (issue 13).

Revision ID: 0030
Revises: 0029
"""

from db.migrate import run_sql_file

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0030_tenant_runs_up.sql")


def downgrade() -> None:
    run_sql_file("0030_tenant_runs_down.sql")
