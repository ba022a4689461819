"""Test infrastructure: one throwaway PostgreSQL cluster per run, a migrated template database,
and a fresh database cloned from it for every test that asks (no mocks, no shared state)."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devtools.localpg import LocalCluster
from devtools.loopback import free_port
from tests.support.replica import StreamingPair, streaming_pair

TEMPLATE_DB = "scheduler_template"
_db_numbers = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[LocalCluster]:
    """A PostgreSQL cluster for this test run (fsync off: it is thrown away)."""
    base = Path(tempfile.mkdtemp(prefix="wfs-tests-"))
    base.chmod(0o755)  # the server runs as `postgres`, which must reach its data directory
    cluster = LocalCluster(base / "pg", free_port(), fast_and_unsafe=True)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def template_url(pg_cluster: LocalCluster) -> str:
    """A database migrated to head, cloned for each test."""
    from db.migrate import upgrade

    url = pg_cluster.create_database(TEMPLATE_DB)
    upgrade(url)
    return url


@pytest.fixture
def database_url(pg_cluster: LocalCluster, template_url: str) -> str:
    """A fresh, migrated database of this test's own."""
    name = f"test_{os.getpid()}_{next(_db_numbers)}"
    return pg_cluster.create_database(name, template=TEMPLATE_DB)


@pytest.fixture
def empty_database_url(pg_cluster: LocalCluster) -> str:
    """A fresh database with no schema at all (migration tests)."""
    return pg_cluster.create_database(f"empty_{os.getpid()}_{next(_db_numbers)}")


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A plain autocommit connection to the test's database, to look at what the code did."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def replication() -> Iterator[StreamingPair]:
    """A primary cluster with a migrated template and a hot standby streaming from it
    (tests/support/replica.py says why not the suite's cluster). Made at most once per run, by
    the first test that asks; a few seconds."""
    from db.migrate import upgrade

    base = Path(tempfile.mkdtemp(prefix="wfs-replica-"))
    base.chmod(0o755)
    with streaming_pair(base) as pair:
        upgrade(pair.primary.create_database(TEMPLATE_DB))
        yield pair


@pytest.fixture
def replicated_database(replication: StreamingPair) -> Iterator[tuple[str, str]]:
    """A fresh migrated database on the primary, present on the standby: (primary URL,
    standby URL). The standby is running and replaying again after the test, whatever it did."""
    name = f"replicated_{os.getpid()}_{next(_db_numbers)}"
    try:
        yield replication.create_database(name, template=TEMPLATE_DB)
    finally:
        replication.heal()
