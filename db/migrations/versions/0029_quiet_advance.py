"""A sleeping dispatcher is woken only by a change that can make a schedule due sooner (a
create, a resume, an earlier next fire instant), not by every pass's advance (issue 13).

Revision ID: 0029
Revises: 0028
"""

from db.migrate import run_sql_file

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0029_quiet_advance_up.sql")


def downgrade() -> None:
    run_sql_file("0029_quiet_advance_down.sql")
