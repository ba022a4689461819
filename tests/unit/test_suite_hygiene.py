"""The suite's own rules (tests/conftest.py, tests/unit/conftest.py): the service's environment
is stripped, every test carries its tier, and a unit test cannot open a socket."""

from __future__ import annotations

import os
import socket

import pytest

from tests.conftest import TIERS, service_variables


def test_the_services_variables_are_found_and_the_machines_kept() -> None:
    environ = {
        "DATABASE_URL": "postgresql://elsewhere/db",
        "DATABASE_READ_URL": "postgresql://replica/db",
        "REDIS_URL": "redis://localhost",
        "INTERNAL_API_SECRET": "x" * 20,
        "LOG_LEVEL": "DEBUG",
        "api_port": "9000",
        "SCHEDULER_TARGET_URL": "http://example.com/{workflowId}",
        "SCHEDULER_WORKERS": "3",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "SCHEDULER_PG_BIN": "/usr/lib/postgresql/15/bin",
        "PATH": "/usr/bin",
        "SOAK": "1",
    }
    assert sorted(service_variables(environ)) == sorted(
        set(environ) - {"SCHEDULER_PG_BIN", "PATH", "SOAK"}
    )


def test_this_run_has_none_of_them() -> None:
    assert service_variables(os.environ) == []


def test_each_test_is_marked_with_its_tier(request: pytest.FixtureRequest) -> None:
    assert [m.name for m in request.node.iter_markers() if m.name in TIERS] == ["unit"]


@pytest.mark.parametrize("address", [("127.0.0.1", 0)])
def test_a_unit_test_cannot_bind_or_connect(address: tuple[str, int]) -> None:
    with socket.socket() as sock:
        with pytest.raises(AssertionError, match="move it to tests/integration"):
            sock.bind(address)
        with pytest.raises(AssertionError, match="unit tests are pure"):
            sock.connect(address)
