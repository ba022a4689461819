"""L11: a database the API cannot reach is an outage, answered 503 with Retry-After and the
error shape, not a 500 that calls it a bug; the API serves again once the database is back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from litestar import Litestar, get
from litestar.testing import TestClient
from procrastinate.exceptions import ConnectorException

from app.api.errors import EXCEPTION_HANDLERS
from app.settings import Settings
from devtools.localpg import LocalCluster
from tests.security.conftest import security_settings
from tests.support.db import wait_until
from tests.support.server import make_token, running_api


@pytest.fixture
def settings(database_url: str) -> Settings:
    return security_settings(database_url, api_database_wait_seconds=1)


def _unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, (answer.status_code, answer.text[:300])
    assert answer.headers["retry-after"] == "5"
    body = answer.json()
    assert body["error"] == "database_unavailable" and "retry in 5 s" in body["message"]
    assert "bug" not in body["message"]


@pytest.fixture
def database_down(pg_cluster: LocalCluster, database_url: str) -> Iterator[Any]:
    """A switch that makes the test's database refuse every connection (and ends the open
    ones), as a stopped server would, without stopping the cluster other tests share."""
    name = database_url.rsplit("/", 1)[1]

    def switch(down: bool) -> None:
        with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(not down).lower()}')
            if down:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )

    try:
        yield switch
    finally:
        switch(False)


def test_requests_during_an_outage_answer_503(
    settings: Settings, database_url: str, database_down: Any
) -> None:
    token = make_token(database_url, "acme")
    with (
        running_api(settings) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=15
        ) as client,
    ):
        assert client.get("/api/schedules").status_code == 200
        database_down(True)
        _unavailable(client.get("/api/schedules"))  # dependency: no pooled connection
        _unavailable(  # the authentication hook, before the body
            client.post("/api/schedules", json={"workflowId": "wf", "cronExpression": "@daily"})
        )
        assert client.get("/ready").status_code == 503
        database_down(False)
        wait_until(
            lambda: client.get("/api/schedules").status_code == 200, 15, "the API serves again"
        )


@pytest.mark.parametrize(
    ("raised", "status"),
    [
        (psycopg.OperationalError("server closed the connection unexpectedly"), 503),
        (psycopg.errors.SerializationFailure("could not serialize access"), 503),
        (ConnectorException("defer failed"), 503),  # with an OperationalError cause, below
        (psycopg.errors.UniqueViolation("duplicate key"), 500),  # a bug, not an outage
    ],
)
def test_database_errors_are_mapped(raised: Exception, status: int) -> None:
    """Mid-query losses and Procrastinate's wrapper map the same way (no database needed)."""

    @get("/boom")
    async def boom() -> None:
        if isinstance(raised, ConnectorException):
            raise raised from psycopg.OperationalError("the connection is lost")
        raise raised

    with TestClient(Litestar([boom], exception_handlers=EXCEPTION_HANDLERS)) as client:
        answer = client.get("/boom")
    assert answer.status_code == status, answer.text
    if status == 503:
        _unavailable(answer)
