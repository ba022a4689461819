"""Cheaper slots (issue 13): a run its dispatcher starts as it inserts it is counted by the
insert's statistics trigger, fire lag included.

Revision ID: 0011
Revises: 0010
"""

from db.migrate import sql_revision

revision, down_revision, upgrade, downgrade = sql_revision("0011_cheaper_slots", after="0010")
