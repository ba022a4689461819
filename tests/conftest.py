"""Test infrastructure: one throwaway PostgreSQL cluster per run, a migrated template database,
and a fresh database cloned from it for every test that asks (no mocks, no shared state).

Also, for the whole suite:
- the service's configuration is stripped from the environment at start (as procrastinate's
  suite strips PROCRASTINATE_*): a developer's DATABASE_URL, REDIS_URL or SCHEDULER_* must not
  reach a `Settings(...)` or a worker process the tests start;
- each test is marked with its tier, the folder it lives in (`pytest -m unit`, `-m "not
  faults"`);
- the fixtures the API-level tiers share (acceptance, security, dashboard, faults): the API on
  the test's database, clients, a recording target, worker processes.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path

import httpx
import psycopg
import pytest

from app.settings import Settings
from devtools.localpg import LocalCluster
from devtools.loopback import free_port
from tests.support.clones import Clones
from tests.support.replica import StreamingPair, streaming_pair
from tests.support.server import make_token, running_api
from tests.support.target import RecordingTarget
from tests.support.workers import WorkerProcess

TEMPLATE_DB = "scheduler_template"
_db_numbers = itertools.count()

TIERS = ("unit", "integration", "acceptance", "faults", "security", "dashboard")
"""The folders under tests/, each a marker its tests carry (registered in pyproject.toml)."""
CLONE_AHEAD_TIERS = ("unit", "integration", "security", "dashboard")
"""The tiers whose tests may run beside the next test's database being cloned on their own
cluster: not faults, which measure fire lags and count processes' CPU, and not acceptance, some
of whose tests restart the cluster (a clone under way would fail). Acceptance tests do run beside
another test file's, in another process on another cluster (`make test`, docs/architecture.md)."""

_SERVICE_PREFIXES = ("SCHEDULER_", "OTEL_")
# Not the service's configuration but the machine's: which PostgreSQL binaries the test
# cluster runs on (devtools/pgbinaries.py).
_MACHINE_VARIABLES = frozenset({"SCHEDULER_PG_BIN"})


def service_variables(environ: MutableMapping[str, str]) -> list[str]:
    """The variables of `environ` that configure the service: every Settings field (DATABASE_URL,
    DATABASE_READ_URL, REDIS_URL, INTERNAL_API_SECRET, LOG_*, API_*, ...), anything SCHEDULER_*
    (`make up`'s too) and OpenTelemetry's OTEL_*; not the machine's SCHEDULER_PG_BIN."""
    fields = {name.upper() for name in Settings.model_fields}
    return [
        name
        for name in environ
        if name.upper() not in _MACHINE_VARIABLES
        and (name.upper() in fields or name.upper().startswith(_SERVICE_PREFIXES))
    ]


def pytest_sessionstart(session: pytest.Session) -> None:
    for name in service_variables(os.environ):
        del os.environ[name]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier: the first folder under tests/."""
    root = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(root).parts if item.path.is_relative_to(root) else ()
        if len(parts) > 1 and parts[0] in TIERS:
            item.add_marker(parts[0])


# --- PostgreSQL ------------------------------------------------------------------------------


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
        # A database per test: by the end the data directory holds some 1,300 of them, whose
        # removal took 22 s of the run's end. The server stops here; a background process
        # removes the files, which no one waits for.
        cluster.stop("immediate")
        # (The data directory may be outside `base`: LocalCluster's fallback for root.)
        files = [str(path) for path in (cluster.datadir, cluster.log_file, base)]
        subprocess.run(  # noqa: S603: the shell starts `rm` in the background and returns
            ["/bin/sh", "-c", 'rm -rf "$@" >/dev/null 2>&1 &', "sh", *files], check=True
        )


@pytest.fixture(scope="session")
def template_url(pg_cluster: LocalCluster) -> str:
    """A database migrated to head, cloned for each test."""
    from db.migrate import upgrade

    url = pg_cluster.create_database(TEMPLATE_DB)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def clones(pg_cluster: LocalCluster, template_url: str) -> Iterator[Clones]:
    """Databases cloned from the template, the next one ahead (tests/support/clones.py)."""
    made = Clones(pg_cluster, TEMPLATE_DB)
    yield made
    made.close()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, clones: Clones) -> str:
    """A fresh, migrated database of this test's own. In the tiers that tolerate a neighbour,
    the next test's is cloned meanwhile."""
    url = clones.clone()
    if any(request.node.get_closest_marker(tier) for tier in CLONE_AHEAD_TIERS):
        clones.clone_ahead()
    return url


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


# --- the API, its clients, a target and workers (acceptance, security, dashboard, faults) ----


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The API's settings on the test's database (a tier or a module overrides it by name)."""
    return Settings(
        database_url=database_url,
        scheduler_target_allowlist="http://127.0.0.1:9/allowed",
        log_format="console",
    )


@pytest.fixture
def api_url(settings: Settings) -> Iterator[str]:
    with running_api(settings) as url:
        yield url


def _client(api_url: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=api_url, headers=headers, timeout=10)


@pytest.fixture
def client(api_url: str, database_url: str) -> Iterator[httpx.Client]:
    """An HTTP client authenticated as tenant `acme`."""
    with _client(api_url, make_token(database_url, "acme")) as c:
        yield c


@pytest.fixture
def other_client(api_url: str, database_url: str) -> Iterator[httpx.Client]:
    """An HTTP client authenticated as another tenant, `globex`."""
    with _client(api_url, make_token(database_url, "globex")) as c:
        yield c


@pytest.fixture
def anonymous(api_url: str) -> Iterator[httpx.Client]:
    with _client(api_url, None) as c:
        yield c


@pytest.fixture
def target() -> Iterator[RecordingTarget]:
    with RecordingTarget() as recording:
        yield recording


@pytest.fixture
def start_worker(
    database_url: str, target: RecordingTarget
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real worker processes sending to `target`; all are stopped (or killed) when the
    test ends. `start(wait=False)` returns before the worker has registered."""
    started: list[WorkerProcess] = []

    def start(wait: bool = True, **env: str) -> WorkerProcess:
        worker = WorkerProcess(database_url, target.url_template(), **env).start()
        started.append(worker)
        if wait:
            worker.wait_registered()
        return worker

    yield start
    for worker in started:
        worker.stop(timeout=30)
