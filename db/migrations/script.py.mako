"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from db.migrate import sql_revision

revision, down_revision, upgrade, downgrade = sql_revision(
    ${repr(up_revision)}, after=${repr(down_revision)}
)
