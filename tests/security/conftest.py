"""Fixtures for the hostile-input and security tests: the real API on loopback over a fresh
migrated database (tests/conftest.py), clients of two tenants, a recording target and workers.

The suite's fixtures (tests/conftest.py) are used as they are; only `settings` differs: its
allowlist names one loopback prefix and one public host, so the SSRF tests can tell
"allowlisted" from "refused".
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest

from app.settings import Settings
from devtools.localpg import LocalCluster
from tests.conftest import TEMPLATE_DB
from tests.integration.conftest import conn  # noqa: F401 - a fixture, found by name
from tests.support.server import make_token, running_api

ALLOWED_PREFIX = "https://allowed.example.com/hooks"
LOOPBACK_PREFIX = "http://127.0.0.1:9/allowed"
SECRET = "s3cr3t-INTERNAL-" + "k" * 24
"""A recognisable INTERNAL_API_SECRET: the log scans look for it (and for pieces of it)."""


def security_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "scheduler_target_allowlist": f"{LOOPBACK_PREFIX},{ALLOWED_PREFIX}",
        "internal_api_secret": SECRET,
        "log_format": "json",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    """For tests that install the production log handler: the root logger as it was after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


@pytest.fixture
def settings(database_url: str) -> Settings:
    return security_settings(database_url)


# --- one API per module, for the tests that only need "a server and a tenant" ----------------
# Starting an API on a fresh database costs ~0.5 s; the hostile-input and fuzz tests send
# hundreds of requests that do not depend on each other's data, so they share one per module.


@pytest.fixture(scope="module")
def shared_database_url(pg_cluster: LocalCluster, template_url: str) -> str:
    return pg_cluster.create_database(f"security_{uuid.uuid4().hex[:12]}", template=TEMPLATE_DB)


@pytest.fixture(scope="module")
def shared_api_url(shared_database_url: str) -> Iterator[str]:
    with running_api(security_settings(shared_database_url)) as url:
        yield url


@pytest.fixture(scope="module")
def shared_client(shared_api_url: str, shared_database_url: str) -> Iterator[httpx.Client]:
    """Tenant `acme` on the module's API."""
    token = make_token(shared_database_url, "acme")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=shared_api_url, headers=headers, timeout=10) as http:
        yield http
