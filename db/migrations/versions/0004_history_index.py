"""Drop the history index that duplicated the slot key.

Revision ID: 0004
Revises: 0003
"""

from db.migrate import sql_revision

revision, down_revision, upgrade, downgrade = sql_revision("0004_history_index", after="0003")
