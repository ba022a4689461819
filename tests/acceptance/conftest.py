from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from app.settings import Settings
from tests.support.server import make_token, running_api
from tests.support.target import RecordingTarget
from tests.support.workers import WorkerProcess


@pytest.fixture
def settings(database_url: str) -> Settings:
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
    """Start real worker processes; all are stopped (or killed) when the test ends."""
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
