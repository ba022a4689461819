"""Tenant isolation on every endpoint and page: every operation with an id parameter
(enumerated from OpenAPI, so a new one is covered) answers another tenant's ids as it answers a
nonexistent id; lists, stats, create and register show and change nothing; the dashboard's
per-schedule pages and its CSRF guards (docs/security.md)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from app.api.app import create_app
from tests.security.conftest import (
    PAUSED,
    error_body,
)
from tests.support.server import make_token

# Operations that carry no id of a tenant's schedule or execution, each with the check that
# shows it gives nothing of another tenant away. The test fails for an operation that is in
# neither group, so a new endpoint cannot go unchecked.
NO_TENANT_DATA = {
    "POST /api/schedules/preview",
    "GET /api/timezones",
    "GET /health",
    "GET /ready",
    "GET /metrics",  # deployment-wide counters, no ids (docs/security.md)
}
LISTS_AND_CREATES = {
    "GET /api/schedules",
    "GET /api/stats",
    "POST /api/schedules",
    "POST /api/schedules/batch",  # another tenant's id: a per-item conflict (test_schedule_batch)
    "GET /api/alert-channels",  # isolation: tests/acceptance/test_alert_channels_api.py
    "POST /api/alert-channels",
    "POST /api/scheduler/register",
}
LIST_FILTERS = {"GET /api/incidents"}
"""Lists whose uuid query parameter filters the tenant's own rows (`scheduleId`)."""
BODIES = {
    ("PATCH", "/api/schedules/{schedule_id}"): {"pauseNote": "mine now", "enabled": True},
    ("POST", "/api/schedules/{schedule_id}/pause"): {"note": "mine now"},
    ("POST", "/api/schedules/{schedule_id}/resume"): {"note": "mine now"},
    ("POST", "/api/schedules/{schedule_id}/backfill"): {
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-03T00:00:00Z",
    },
    ("POST", "/api/executions/{execution_id}/result"): {"status": "succeeded"},
    ("PATCH", "/api/alert-channels/{channel_id}"): {"name": "mine now"},
}


def _is_uuid(schema: dict[str, Any]) -> bool:
    options = [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]
    return any(option.get("format") == "uuid" for option in options)


def _foreign_call(
    caller: httpx.Client, method: str, path: str, operation: dict[str, Any], ids: dict[str, str]
) -> httpx.Response:
    """Call the operation with `ids` for each of its uuid parameters."""
    url, query = path, {}
    for parameter in operation.get("parameters", []):
        if not _is_uuid(parameter.get("schema", {})):
            continue
        name = parameter["name"]
        value = ids["execution" if "execution" in name.lower() else "schedule"]
        if parameter["in"] == "path":
            url = url.replace("{" + name + "}", value)
        else:
            query[name] = value
    body = BODIES.get((method, path))
    return caller.request(method, url, params=query, json=body)


def test_every_operation_hides_other_tenants_ids(
    client: httpx.Client, other_client: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    sweep_operations(client, other_client, db)


def sweep_operations(
    client: httpx.Client,
    other_client: httpx.Client,
    db: psycopg.Connection[Any],
    settle: Callable[[], None] = lambda: None,
) -> None:
    """Every operation of the API, called by `other_client` with `client`'s ids and with ids
    nobody has. `settle` runs after `client`'s writes: with a read replica, it waits until the
    replica has them (so that a 404 there is the tenancy's, not the lag's)."""
    schedule = client.post("/api/schedules", json=PAUSED).json()
    run = client.post(f"/api/schedules/{schedule['id']}/trigger")
    assert run.status_code == 202, run.text
    settle()
    theirs = {"schedule": schedule["id"], "execution": run.json()["id"]}
    nobody = {"schedule": str(uuid.uuid4()), "execution": str(uuid.uuid4())}

    paths = client.get("/schema/openapi.json").json()["paths"]
    checked: set[str] = set()
    for path, operations in paths.items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            takes_ids = any(_is_uuid(p.get("schema", {})) for p in operation.get("parameters", []))
            if not takes_ids:
                assert label in NO_TENANT_DATA | LISTS_AND_CREATES, (
                    f"{label} is a new operation: add it to a group of this test"
                )
                continue
            foreign = _foreign_call(other_client, method.upper(), path, operation, theirs)
            missing = _foreign_call(other_client, method.upper(), path, operation, nobody)
            if label in LIST_FILTERS:  # filtering by another tenant's id finds nothing
                assert foreign.status_code == missing.status_code == 200, label
                assert foreign.json() == missing.json() == {"items": [], "nextCursor": None}
                checked.add(label)
                continue
            body = error_body(foreign, 404)
            # Indistinguishable from an id that does not exist at all.
            assert missing.status_code == 404, (label, missing.text)
            for key in ("schedule", "execution"):
                body["message"] = body["message"].replace(theirs[key], nobody[key])
            assert body == missing.json(), label
            checked.add(label)
    assert len(checked) >= 10, checked  # every per-id operation of the API

    # Lists, statistics and creates show nothing and change nothing of acme's.
    listed = other_client.get("/api/schedules").json()
    assert listed == {"items": [], "nextCursor": None}
    assert other_client.get("/api/schedules", params={"workflowId": "wf"}).json()["items"] == []
    stats = other_client.get("/api/stats").json()
    assert stats["total"] == 0 and set(stats["schedules"].values()) <= {0}, stats
    taken = other_client.post("/api/schedules", json={**PAUSED, "id": theirs["schedule"]})
    error_body(taken, 409)  # ids are global: the honest answer (docs/security.md)
    register = other_client.post(
        "/api/scheduler/register",
        json={"triggerId": theirs["schedule"], "workflowId": "x", "cronExpression": "* * * * *"},
    )
    error_body(register, 409)

    # acme's schedule and history are exactly as they were.
    mine = client.get(f"/api/schedules/{theirs['schedule']}").json()
    assert (mine["version"], mine["enabled"], mine["pauseNote"]) == (1, False, None), mine
    rows = db.execute(
        "SELECT id, tenant FROM workflow_schedule_executions WHERE trigger_id = %s",
        (theirs["schedule"],),
    ).fetchall()
    assert [(str(r[0]), r[1]) for r in rows] == [(theirs["execution"], "acme")]


def _dashboard_schedule_pages(settings: Any) -> list[str]:
    """Every dashboard page under a schedule id, from the app's own routes."""
    app = create_app(settings)
    pages = [
        route.path
        for route in app.routes
        if "{schedule_id" in route.path
        and not route.path.startswith("/api")
        and "GET" in getattr(route, "methods", set())
    ]
    assert len(pages) >= 2, pages  # the schedule page and its edit form
    return [re.sub(r"\{schedule_id(:\w+)?\}", "{id}", page) for page in pages]


def test_dashboard_pages_hide_other_tenants_schedules(
    api_url: str, database_url: str, client: httpx.Client, settings: Any
) -> None:
    created = client.post("/api/schedules", json={**PAUSED, "workflowId": "acme-private"})
    schedule_id = created.json()["id"]
    acme = {"wfs_session": client.headers["authorization"].removeprefix("Bearer ")}
    globex = {"wfs_session": make_token(database_url, "globex")}
    for page in _dashboard_schedule_pages(settings):
        url = api_url + page.replace("{id}", schedule_id)
        with httpx.Client(cookies=globex, timeout=10) as browser:
            foreign = browser.get(url)
        assert foreign.status_code == 404, (page, foreign.status_code)
        assert "acme-private" not in foreign.text and "acme" not in foreign.text, page
        with httpx.Client(cookies=acme, timeout=10) as browser:
            assert browser.get(url).status_code == 200, page
    # The data the page would load: 404 for the other tenant's session.
    with httpx.Client(base_url=api_url, cookies=globex, timeout=10) as browser:
        api = browser.get(f"/api/schedules/{schedule_id}", headers={"X-Dashboard": "1"})
        error_body(api, 404)
        # The cookie alone, without the dashboard's header, is no credential (CSRF).
        error_body(browser.get("/api/schedules"), 401)


def test_dashboard_csrf_guards(api_url: str, client: httpx.Client) -> None:
    """A page of another site can neither log a browser in (login CSRF) nor out, nor make the
    API act with the session cookie (it needs the X-Dashboard header, which forms cannot send)."""
    token = client.headers["authorization"].removeprefix("Bearer ")
    evil = {"Origin": "https://evil.example"}
    with httpx.Client(base_url=api_url, timeout=10) as browser:
        login = browser.post("/login", data={"token": token}, headers=evil)
        assert login.status_code == 403 and "set-cookie" not in login.headers
        assert browser.post("/logout", headers=evil).status_code == 403
        own = browser.post("/login", data={"token": token}, headers={"Origin": api_url})
        assert own.status_code == 303 and "wfs_session=" in own.headers["set-cookie"]
        cookie = own.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        session = {"Cookie": f"wfs_session={token}"}
        forged = browser.post("/api/schedules", json=PAUSED, headers=session)
        error_body(forged, 401)
        form = browser.post(
            "/api/schedules",
            content=b"workflowId=x",
            headers={**session, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code in (401, 415)
    assert client.get("/api/schedules").json()["items"] == []  # nothing was created
