"""The limits that stop one client from exhausting the service: body size, page size,
backfill and preview size, and the per-tenant rate limit on manual runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.security.conftest import (
    PAUSED,
    error_body,
    security_settings,
)
from tests.support.server import make_token, running_api


def test_limits_on_body_page_and_backfill_size(client: httpx.Client) -> None:
    sid = client.post("/api/schedules", json={**PAUSED, "cronExpression": "* * * * *"}).json()["id"]
    big = client.post(
        "/api/schedules",
        content=b" " * (1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
    )
    error_body(big, 413)
    for path in (
        "/api/schedules",
        f"/api/schedules/{sid}/executions",
        f"/api/scheduler/history?triggerId={sid}",
    ):
        separator = "&" if "?" in path else "?"
        assert (
            error_body(client.get(f"{path}{separator}limit=501"), 422)["errors"][0]["field"]
            == "limit"
        )
        assert client.get(f"{path}{separator}limit=500").status_code == 200
    too_many = client.post(
        f"/api/schedules/{sid}/backfill",
        json={"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T16:41:00Z"},
    )  # 1,001 minutes
    body = error_body(too_many, 422)
    assert "1000" in body["message"].replace(",", "") and body["errors"][0]["field"] == "end"
    at_most = client.post(
        f"/api/schedules/{sid}/backfill",
        json={"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T16:40:00Z"},
    )
    assert at_most.json() == {"created": 1000, "existing": 0}
    preview = client.post(
        "/api/schedules/preview", json={"cronExpression": "* * * * *", "count": 1001}
    )
    assert error_body(preview, 422)["errors"][0]["field"] == "count"


@pytest.fixture
def limited_api(database_url: str) -> Iterator[str]:
    """An API whose manual-run limit is 3 at once, then one every 100 s."""
    settings = security_settings(
        database_url, scheduler_trigger_rate=0.01, scheduler_trigger_burst=3
    )
    with running_api(settings) as url:
        yield url


def test_manual_runs_are_rate_limited_per_tenant(limited_api: str, database_url: str) -> None:
    def tenant_client(name: str) -> httpx.Client:
        token = make_token(database_url, name)
        return httpx.Client(
            base_url=limited_api, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    with tenant_client("acme") as acme, tenant_client("globex") as globex:
        sid = acme.post("/api/schedules", json=PAUSED).json()["id"]
        window = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-03T00:00:00Z"}
        assert acme.post(f"/api/schedules/{sid}/trigger").status_code == 202
        assert acme.post(f"/api/schedules/{sid}/backfill", json=window).status_code == 200
        assert acme.post(f"/api/schedules/{sid}/trigger").status_code == 202
        before = acme.get(f"/api/schedules/{sid}/executions").json()["items"]
        for refused in (
            acme.post(f"/api/schedules/{sid}/trigger"),
            acme.post(f"/api/schedules/{sid}/backfill", json=window),
            acme.post(f"/api/schedules/{uuid.uuid4()}/trigger"),  # limited before the lookup
        ):
            body = error_body(refused, 429)
            assert body["error"] == "too_many_requests" and "retry in" in body["message"]
            assert 90 <= int(refused.headers["Retry-After"]) <= 100, refused.headers
        assert acme.get(f"/api/schedules/{sid}/executions").json()["items"] == before
        # Reads are not limited; another tenant has a bucket of its own.
        assert acme.get(f"/api/schedules/{sid}").status_code == 200
        other = globex.post("/api/schedules", json=PAUSED).json()["id"]
        assert globex.post(f"/api/schedules/{other}/trigger").status_code == 202
