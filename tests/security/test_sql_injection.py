"""SQL injection payloads in every string field and parameter are stored or refused as data:
tables intact, no pg_sleep ran. (That SQL comes only from named queries is a lint:
devtools/check_sql.py, run by `make check`.)"""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg

from tests.security.conftest import (
    PAUSED,
)

INJECTIONS = [
    "'; DROP TABLE workflow_schedules; --",
    '"; DROP TABLE api_tokens; --',
    "' OR '1'='1",
    "' UNION SELECT secret_sha256::text FROM api_tokens --",
    "1); SELECT pg_sleep(3); --",
    "$$; DROP TABLE workflow_schedule_executions; $$",
    "%(tenant)s",
    "%s %s %s",
    "{tenant}",
    "\\x27; --",
]


def test_sql_injection_payloads_are_data(
    client: httpx.Client, other_client: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    other_client.post("/api/schedules", json={**PAUSED, "workflowId": "globex-only"})
    started = time.monotonic()
    for payload in INJECTIONS:
        created = client.post(
            "/api/schedules",
            json={
                **PAUSED,
                "workflowId": payload,
                "pauseNote": payload,
                "input": {payload: payload},
            },
        )
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        got = client.get(f"/api/schedules/{sid}").json()
        assert (got["workflowId"], got["pauseNote"], got["input"]) == (
            payload,
            payload,
            {payload: payload},
        )
        listed = client.get("/api/schedules", params={"workflowId": payload}).json()["items"]
        assert [i["id"] for i in listed] == [sid]
        paused = client.post(f"/api/schedules/{sid}/pause", json={"note": payload})
        assert paused.json()["pauseNote"] == payload
        for field in ("cronExpression", "timezone", "targetUrl"):
            assert client.post("/api/schedules", json={**PAUSED, field: payload}).status_code == 422
        for params in ({"state": payload}, {"cursor": payload}, {"limit": payload}):
            assert client.get("/api/schedules", params=params).status_code == 422
        assert (
            client.get(f"/api/schedules/{sid}/executions", params={"status": payload}).status_code
            == 422
        )
        assert (
            client.get("/api/scheduler/history", params={"triggerId": payload}).status_code == 422
        )
        assert (
            client.patch(
                f"/api/schedules/{sid}", json={}, headers={"If-Match": payload}
            ).status_code
            == 422
        )
    assert time.monotonic() - started < 20  # pg_sleep never ran
    tables = [
        r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    ]
    for table in (
        "workflow_schedules",
        "workflow_schedule_executions",
        "api_tokens",
        "procrastinate_jobs",
    ):
        assert table in tables
    counts = dict(
        db.execute("SELECT tenant, count(*) FROM workflow_schedules GROUP BY tenant").fetchall()
    )
    assert counts == {"acme": len(INJECTIONS), "globex": 1}, counts
    assert db.execute("SELECT count(*) FROM api_tokens").fetchone() == (2,)
    # Nothing of globex leaked into acme's answers.
    assert all(
        i["workflowId"] != "globex-only"
        for i in client.get("/api/schedules?limit=500").json()["items"]
    )
