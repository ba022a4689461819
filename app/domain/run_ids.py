"""A run's id: a UUID whose first 48 bits are the instant its dispatcher made it.

The history's primary key is (id, scheduled_at) on each partition. Random ids (version 4)
put every new run on a random leaf page of that index, so each insert (and each finish, whose
new row version gets its own entry) dirties a page of an index that grows all day: at a
sustained rate most of it falls out of memory, and after every checkpoint the first change of
each page writes the whole page to the WAL. Ids that start with their creation instant are
appended to the index's right edge, where the pages are few and already in memory
(docs/benchmarks.md, "Run ids in time order").

The layout is RFC 9562's version 7: 48 bits of Unix milliseconds, the version, 74 random bits
(12 + 62) and the variant. The random bits keep ids of one millisecond distinct; ordering
within a millisecond does not matter to the index. The instant is the caller's (the dispatch
pass's reading of the database clock), so two workers' ids interleave as their clocks do.
`wfs_run_id` (db/migrations/sql/0022_run_ids_up.sql) makes the same ids in SQL.
"""

from __future__ import annotations

import os
from datetime import datetime
from uuid import UUID

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62
_RAND_A = 0xFFF << 64  # 12 random bits after the version
_RAND_B = (1 << 62) - 1  # 62 random bits after the variant


def run_id(made_at: datetime) -> UUID:
    """A version 7 UUID for a run made at `made_at` (an aware datetime)."""
    millis = int(made_at.timestamp() * 1000) & ((1 << 48) - 1)
    random = int.from_bytes(os.urandom(10), "big")  # 80 bits; 74 of them are kept
    return UUID(
        int=(millis << 80)
        | _VERSION_7
        | ((random << 64) & _RAND_A)
        | _VARIANT_RFC
        | (random & _RAND_B)
    )


def made_at_millis(run: UUID) -> int:
    """The Unix milliseconds a version 7 run id starts with."""
    return run.int >> 80
