"""Test databases cloned from the migrated template one test ahead.

A clone of the template costs PostgreSQL 45-90 ms (its ~280 relations: the history's
partitions made ahead and their indexes, Procrastinate's schema), and some 1,300 tests each ask
for one (by estimate ~100 s of a `make test` run). So the next test's database is cloned on a
thread while the current test runs, in the tiers that tolerate a neighbour
(`CLONE_AHEAD_TIERS` in tests/conftest.py). Faults and acceptance tests order no clone ahead;
one made ahead by the test before is taken by their own `database_url` before they start.
Measured: `pytest tests/integration` 118.0 and 133.1 s against 133.2 and 138.0 s without.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from devtools.localpg import LocalCluster


class Clones:
    """Databases cloned from `template`, one at a time (a clone reads the template; two at once
    would only compete for the same CPU)."""

    def __init__(self, cluster: LocalCluster, template: str) -> None:
        self.cluster, self.template = cluster, template
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clone-ahead")
        self._ahead: Future[str] | None = None

    def clone(self) -> str:
        """A new database: the one cloned ahead if there is one (waiting for it), or one cloned
        now. Returns its URL."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            return ahead.result()
        return self._clone()

    def clone_ahead(self) -> None:
        """Start cloning the next test's database now."""
        if self._ahead is None:
            self._ahead = self._thread.submit(self._clone)

    def close(self) -> None:
        """Wait for a clone under way (the cluster is about to stop)."""
        self._thread.shutdown(wait=True)

    def _clone(self) -> str:
        name = f"test_{os.getpid()}_{next(self._numbers)}"
        with self._lock:
            return self.cluster.create_database(name, template=self.template)
