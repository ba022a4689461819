"""The history keeps no index of the running runs by tenant: the cap of runs in flight reads
the statistics' counts since 0030 (issue 13).

Revision ID: 0032
Revises: 0031
"""

from db.migrate import run_sql_file

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0032_no_running_tenant_index_up.sql")


def downgrade() -> None:
    run_sql_file("0032_no_running_tenant_index_down.sql")
