"""Security: tenant isolation on every endpoint and page, tokens, SSRF, secrets in logs and
answers, SQL only through parameters, and the limits that stop one client from exhausting the
service (issue 6, item 6; docs/security.md is the threat model these tests back).
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from app.api.app import create_app
from app.domain.target_urls import url_allowed
from app.logging import RedactSecrets, configure_logging
from devtools.loopback import free_port
from tests.security.conftest import ALLOWED_PREFIX, LOOPBACK_PREFIX, SECRET, security_settings
from tests.support.db import wait_until
from tests.support.server import make_token, running_api
from tests.support.target import RecordingTarget, Response
from tests.support.workers import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]
PAUSED = {"workflowId": "wf", "cronExpression": "0 6 * * *", "enabled": False}


def error_body(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, (answer.status_code, answer.text[:500])
    body = answer.json()
    assert set(body) == {"error", "message", "errors"}, body
    return dict(body)


# --- tenant isolation ------------------------------------------------------------------------

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


# --- tokens ----------------------------------------------------------------------------------


def _text_columns(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    rows = conn.execute(
        """SELECT table_name, column_name FROM information_schema.columns
           WHERE table_schema = 'public'
             AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea')"""
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def find_in_database(conn: psycopg.Connection[Any], needles: list[str]) -> list[str]:
    """Every (table.column) of the public schema whose text (or bytes, as text and hex) holds
    one of `needles`."""
    found = []
    for table, column in _text_columns(conn):
        for needle in needles:
            query = sql.SQL(
                "SELECT count(*) FROM {t} WHERE strpos({c}::text, %(p)s) > 0"
                " OR strpos({c}::text, %(h)s) > 0"
            ).format(t=sql.Identifier(table), c=sql.Identifier(column))
            params = {"p": needle, "h": needle.encode().hex()}
            row = conn.execute(query, params).fetchone()
            if row and row[0]:
                found.append(f"{table}.{column}: {needle[:12]}…")
    return found


def test_tokens_are_stored_as_hashes_only(database_url: str, db: psycopg.Connection[Any]) -> None:
    token = make_token(database_url, "acme", "hash check")
    token_id, secret = uuid.UUID(hex=token[4:36]), token[36:]
    row = db.execute("SELECT * FROM api_tokens WHERE id = %s", (token_id,)).fetchone()
    assert row is not None
    columns = [d.name for d in db.execute("SELECT * FROM api_tokens LIMIT 0").description or []]
    assert set(columns) == {
        "id",
        "tenant",
        "name",
        "secret_sha256",
        "created_at",
        "revoked_at",
        "last_used_at",
    }, columns  # fmt: skip - a new column must be looked at here
    stored = dict(zip(columns, row, strict=True))
    assert bytes(stored["secret_sha256"]) == hashlib.sha256(secret.encode()).digest()
    assert find_in_database(db, [token, secret, secret[:16]]) == []


def _function(path: Path, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    raise AssertionError(f"no function {name} in {path}")


def _calls(node: ast.AST) -> set[str]:
    return {ast.unparse(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}


def test_token_and_signature_checks_compare_in_constant_time() -> None:
    """Structural, not a timing measurement: the secret's digest is compared with
    `hmac.compare_digest` and never with `==`; the row is found by the token's id (not by its
    secret), and an unknown id still costs a digest comparison."""
    authenticate = _function(ROOT / "app/services/tokens.py", "authenticate")
    assert "hmac.compare_digest" in _calls(authenticate)
    for compare in (n for n in ast.walk(authenticate) if isinstance(n, ast.Compare)):
        text = ast.unparse(compare)
        if any(isinstance(op, ast.Eq | ast.NotEq) for op in compare.ops):
            assert not re.search(r"secret|digest|expected|sha256", text), text
    source = ast.unparse(authenticate)
    assert "repo.get(conn, token_id)" in source  # looked up by id
    assert "_digest('')" in source  # a dummy comparison for unknown ids
    tokens_sql = (ROOT / "db/queries/tokens.sql").read_text()
    assert "WHERE id = %(id)s" in tokens_sql and "secret_sha256 =" not in tokens_sql
    verify = _function(ROOT / "app/domain/webhook.py", "verify_signature")
    assert "hmac.compare_digest" in _calls(verify)


def test_revocation_is_effective_on_the_next_request(
    client: httpx.Client, api_url: str, database_url: str
) -> None:
    token = client.headers["authorization"].removeprefix("Bearer ")
    assert client.get("/api/schedules").status_code == 200
    with httpx.Client(cookies={"wfs_session": token}, timeout=10) as browser:
        assert browser.get(f"{api_url}/", follow_redirects=False).status_code == 200
    token_id = str(uuid.UUID(hex=token[4:36]))
    revoked = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "revoke", token_id],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert revoked.returncode == 0, revoked.stderr
    assert token not in revoked.stdout + revoked.stderr
    answer = error_body(client.get("/api/schedules"), 401)
    assert "revoked" in answer["message"] and token not in json.dumps(answer)
    with httpx.Client(cookies={"wfs_session": token}, timeout=10) as browser:
        page = browser.get(f"{api_url}/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"


# --- SSRF ------------------------------------------------------------------------------------

REFUSED_TARGETS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.169.254:80/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata/",
    "http://100.100.100.200/latest/meta-data/",  # Alibaba's metadata address
    "http://127.0.0.1/",
    "http://127.0.0.1:9/",  # the allowlisted port, but not its path
    "http://127.1:9/allowed",
    "http://2130706433:9/allowed",
    "http://0x7f000001:9/allowed",
    "http://0.0.0.0:9/allowed",
    "http://localhost:9/allowed",
    "http://[::1]:9/allowed",
    "http://[::ffff:127.0.0.1]:9/allowed",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:9/allowed",
    "ftp://allowed.example.com/hooks",
    "dict://127.0.0.1:11211/",
    "https://allowed.example.com@evil.net/hooks",
    "https://user:pass@allowed.example.com/hooks",
    "https://:@allowed.example.com/hooks",
    "https://evil.net\\@allowed.example.com/hooks",
    "https://allowed.example.com\\@evil.net/hooks",
    "https://allowed.example.com.evil.net/hooks",
    "https://allowed.example.com/hooksx",
    "https://allowed.example.com/hooks/../admin",
    "https://allowed.example.com/hooks/%2e%2e/admin",
    "https://allowed.example.com/hooks/%2E%2E%2Fadmin",
    "https://allowed.example.com/hooks/..%5cadmin",
    "https://allowed.example.com/hooks/a\tb",
    "https://allowed.example.com/hooks/a b",
    "https://allowed.example.com\t.evil.net/hooks",
    "https://allowed.example.com:8443/hooks",
    "https://allowed.example.com:99999/hooks",
    "https://allowed.example.com:abc/hooks",
    "https://[allowed.example.com]/hooks",
    "http://allowed.example.com/hooks",  # https only, as listed
    "https://allowed.example.com./hooks",
    "//allowed.example.com/hooks",
    "allowed.example.com/hooks",
    "",
]
ALLOWED_TARGETS = [
    f"{ALLOWED_PREFIX}",
    f"{ALLOWED_PREFIX}/",
    f"{ALLOWED_PREFIX}/run?x=1",
    "https://ALLOWED.example.com/hooks/run",
    "https://allowed.example.com:443/hooks/run",
    f"{LOOPBACK_PREFIX}/x",  # loopback, because the operator listed it
]
ALLOWLIST = (LOOPBACK_PREFIX, ALLOWED_PREFIX)


@pytest.mark.parametrize("url", REFUSED_TARGETS)
def test_url_policy_refuses(url: str) -> None:
    assert url_allowed(url, ALLOWLIST) is False
    assert url_allowed(url, ()) is False


@pytest.mark.parametrize("url", ALLOWED_TARGETS)
def test_url_policy_admits_only_what_is_listed(url: str) -> None:
    assert url_allowed(url, ALLOWLIST) is True
    assert url_allowed(url, ()) is False


def test_target_urls_are_refused_over_the_api_unless_allowlisted(
    client: httpx.Client, api_url: str, database_url: str
) -> None:
    schedule_id = client.post("/api/schedules", json=PAUSED).json()["id"]
    for url in REFUSED_TARGETS:
        created = client.post("/api/schedules", json={**PAUSED, "targetUrl": url})
        body = error_body(created, 422)
        assert body["errors"][0]["field"] == "targetUrl", (url, body)
        patched = client.patch(f"/api/schedules/{schedule_id}", json={"targetUrl": url})
        assert error_body(patched, 422)["errors"][0]["field"] == "targetUrl", url
    for url in ALLOWED_TARGETS:
        created = client.post("/api/schedules", json={**PAUSED, "targetUrl": url})
        assert created.status_code == 201, (url, created.text)
    # With no allowlist at all, no schedule may choose its target.
    bare = security_settings(database_url, scheduler_target_allowlist="")
    with (
        running_api(bare) as bare_url,
        httpx.Client(base_url=bare_url, headers=client.headers, timeout=10) as other,
    ):
        refused = other.post("/api/schedules", json={**PAUSED, "targetUrl": ALLOWED_PREFIX})
        assert "SCHEDULER_TARGET_ALLOWLIST is empty" in error_body(refused, 422)["message"]


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_redirect_from_an_allowed_target_is_not_followed(
    database_url: str,
    target: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
    status: int,
) -> None:
    allowlist = f"{target.url}/hooks"
    start_worker(SCHEDULER_TARGET_ALLOWLIST=allowlist)
    settings = security_settings(database_url, scheduler_target_allowlist=allowlist)
    token = make_token(database_url, "acme")
    # One answer points at the metadata service, the other back at the target itself: a
    # followed redirect would show up there as a second request.
    target.script(
        "to-metadata",
        [Response(status, headers={"Location": "http://169.254.169.254/latest/meta-data/"})],
    )
    target.script("to-self", [Response(status, headers={"Location": f"{target.url}/followed"})])
    with (
        running_api(settings) as api_url,
        httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as client,
    ):
        runs = {}
        for workflow in ("to-metadata", "to-self"):
            created = client.post(
                "/api/schedules",
                json={**PAUSED, "workflowId": workflow, "targetUrl": f"{target.url}/hooks/run"},
            )
            assert created.status_code == 201, created.text
            runs[workflow] = client.post(f"/api/schedules/{created.json()['id']}/trigger").json()
        for workflow, run in runs.items():
            done = wait_until(
                lambda run=run: (
                    (e := client.get(f"/api/executions/{run['id']}").json())["status"]
                    in ("failed", "succeeded")
                    and e
                ),
                20,
                f"the {workflow} run to finish",
            )
            assert done["status"] == "failed" and done["attempts"] == 1, done
            assert done["httpStatus"] == status and "redirects are not followed" in done["error"]
        assert (
            "169.254.169.254"
            in client.get(f"/api/executions/{runs['to-metadata']['id']}").json()["error"]
        )
    assert [r.path for r in target.requests()] == ["/hooks/run", "/hooks/run"]


# --- secrets in logs, answers and history ------------------------------------------------------


class ApiProcess:
    """`python -m app.cli api` as production runs it: its logging config, JSON logs to a file."""

    def __init__(self, database_url: str, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "API_PORT": str(self.port),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "DEBUG",  # the most a log will ever say
            **env,
        }

    def __enter__(self) -> ApiProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "api"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, self.log_path.read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def test_secrets_and_tokens_never_reach_logs_answers_or_history(
    database_url: str,
    target: RecordingTarget,
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
    db: psycopg.Connection[Any],
) -> None:
    worker = start_worker(
        INTERNAL_API_SECRET=SECRET,
        LOG_LEVEL="DEBUG",
        SCHEDULER_TARGET_ALLOWLIST=f"{target.url}/hooks",
    )
    token = make_token(database_url, "acme", "log scan")
    revoked = make_token(database_url, "acme", "to revoke")
    bearer = f"Bearer {SECRET}"
    # A target that echoes the Authorization header back, in every way it can.
    echoes = {
        "echo-text": Response(500, body=f"auth was: {bearer}".encode()),
        "echo-json": Response(500, body={"headers": {"authorization": bearer}}),
        "echo-slashes": Response(
            400, body=json.dumps({"a": f"{bearer}/x"}).replace("/", "\\/").encode()
        ),
        "echo-location": Response(302, headers={"Location": f"https://x.test/?auth={SECRET}"}),
        "echo-retry": Response(
            503, body=f"{SECRET} {SECRET}".encode(), headers={"Retry-After": "0"}
        ),
        "echo-runid": Response(200, body={"runId": bearer}),
    }
    for workflow, answer in echoes.items():
        target.script(workflow, [answer, answer])
    answers: list[httpx.Response] = []
    with ApiProcess(
        database_url,
        tmp_path / "api.log",
        INTERNAL_API_SECRET=SECRET,
        SCHEDULER_TARGET_ALLOWLIST=f"{target.url}/hooks",
    ) as api:
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=api.url, timeout=10) as http:
            ids = []
            for workflow in echoes:
                created = http.post(
                    "/api/schedules",
                    headers=auth,
                    json={
                        **PAUSED,
                        "workflowId": workflow,
                        "maxAttempts": 2,
                        "retryBackoffSeconds": 1,
                    },
                )
                answers.append(created)
                ids.append(
                    http.post(
                        f"/api/schedules/{created.json()['id']}/trigger", headers=auth
                    ).json()["id"]
                )
            # Failures of every kind, with secrets in the request.
            wrong_secret = token[:36] + "A" * len(token[36:])
            revoke_id = str(uuid.UUID(hex=revoked[4:36]))
            subprocess.run(
                [sys.executable, "-m", "app.cli", "token", "revoke", revoke_id],
                env={**os.environ, "DATABASE_URL": database_url},
                check=True,
                capture_output=True,
                cwd=ROOT,
            )
            for header in (
                f"Bearer {wrong_secret}",
                f"Bearer {revoked}",
                bearer,
                f"Basic {token}",
                token,
            ):
                answers.append(http.get("/api/schedules", headers={"Authorization": header}))
            answers.append(
                http.get(
                    "/api/schedules",
                    headers={"Cookie": f"wfs_session={revoked}", "X-Dashboard": "1"},
                )
            )
            answers.append(http.post("/login", data={"token": revoked}))
            answers.append(
                http.post("/api/schedules", headers=auth, json={**PAUSED, "timezone": "Nowhere/x"})
            )
            answers.append(http.post("/api/schedules", headers=auth, content=b"{bad json"))
            answers.append(http.get(f"/api/schedules/{token}", headers=auth))
            answers.append(http.get("/api/schedules", headers=auth, params={"cursor": SECRET}))
            answers.append(
                http.post(
                    "/api/schedules",
                    headers={**auth, "Content-Type": "application/json"},
                    content=b"[" * 5000,
                )
            )
            finished = {}
            for workflow, execution_id in zip(echoes, ids, strict=True):
                finished[workflow] = wait_until(
                    lambda execution_id=execution_id: (
                        (e := http.get(f"/api/executions/{execution_id}", headers=auth).json())[
                            "status"
                        ]
                        in ("failed", "succeeded")
                        and e
                    ),
                    30,
                    f"the {workflow} run to finish",
                )
            answers.append(http.get("/api/schedules", headers=auth))
    # What the target sent back is kept (status, error text), with the secret cut out.
    for workflow, run in finished.items():
        if workflow == "echo-runid":
            assert run["status"] == "succeeded" and run["workflowRunId"] == "Bearer [redacted]"
        else:
            assert run["status"] == "failed" and "[redacted]" in run["error"], run
    worker.stop()
    assert len(target.requests()) >= len(echoes), "the target was called"
    api_log = (tmp_path / "api.log").read_text()
    worker_log = worker.log_path.read_text()
    assert "api.unhandled_error" not in api_log  # nothing above is a bug
    needles = {
        "secret": SECRET,
        "secret prefix": SECRET[:16],
        "token secret": token[36:],
        "revoked token secret": revoked[36:],
        "bearer token": f"Bearer {token}",
    }
    places = {"API log": api_log, "worker log": worker_log}
    places.update(
        {f"answer {i} {a.request.url.path}": a.text + str(a.headers) for i, a in enumerate(answers)}
    )
    leaks = [
        f"{what} in {where}"
        for where, text in places.items()
        for what, n in needles.items()
        if n in text
    ]
    assert leaks == []
    assert find_in_database(db, [SECRET[:16], token[36:], revoked[36:]]) == []
    # The logs were captured, as JSON lines with an event: the production configuration (and
    # its redacting filter) was in force, not a library's default.
    for log in (api_log, worker_log):
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        assert len(lines) > 3 and all("event" in line for line in lines), log[-2000:]
    assert all(line.startswith("{") for line in api_log.splitlines()), api_log[-2000:]


@pytest.mark.usefixtures("restore_root_logger")
def test_building_the_api_keeps_the_redacting_log_filter() -> None:
    """`create_app` must not reconfigure logging: Litestar's default config replaced the root
    handler (and with it the filter that removes secrets) in the API process."""
    root = logging.getLogger()
    configure_logging(security_settings("postgresql://unused/db"))
    create_app(security_settings("postgresql://unused/db"))
    filters = [f for handler in root.handlers for f in handler.filters]
    assert any(isinstance(f, RedactSecrets) for f in filters), root.handlers
    record = logging.makeLogRecord({"msg": f"sent Bearer {SECRET} and {SECRET}"})
    for handler in root.handlers:
        for log_filter in handler.filters:
            log_filter.filter(record)
    assert SECRET not in record.getMessage()


# --- SQL only through parameters -------------------------------------------------------------

EXECUTORS = {"execute", "executemany", "copy", "stream", "execute_query_async", "execute_query"}


def _module_constants(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id.isupper()
    }


def _is_composed(node: ast.AST) -> bool:
    """`sql.SQL("literal")`, optionally `.format(...)`-ed or `+`-ed with more of the same."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_composed(node.left) and _is_composed(node.right)
    if not isinstance(node, ast.Call):
        return False
    func = ast.unparse(node.func)
    if func.endswith(".format") and isinstance(node.func, ast.Attribute):
        return _is_composed(node.func.value)
    return func in ("sql.SQL", "SQL") and all(isinstance(a, ast.Constant) for a in node.args)


def _sql_argument_ok(
    node: ast.AST, constants: dict[str, str], assigned: dict[str, list[ast.AST]]
) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str | bytes)
    if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == "query":
        return True  # a named query from db/queries/*.sql
    if _is_composed(node):
        return True
    if isinstance(node, ast.JoinedStr):  # only module constants interpolated
        return all(
            isinstance(part, ast.Constant)
            or (
                isinstance(part, ast.FormattedValue)
                and isinstance(part.value, ast.Name)
                and part.value.id in constants
            )
            for part in node.values
        )
    if isinstance(node, ast.Name) and node.id in assigned:
        return all(_sql_argument_ok(value, constants, {}) for value in assigned[node.id])
    return False


# Reviewed exceptions: (file, source of the argument, why it is safe).
REVIEWED = {
    ("db/migrate.py", "sql.encode()", "the text of our own migration files, no input in it"),
}


def test_sql_is_only_built_from_named_queries_and_parameters() -> None:
    """No `execute(...)` in app/, worker/ or db/ gets SQL built from strings at run time:
    f-strings (except of module constants), `%`, `.format`, `+` of str. Values go as
    parameters; SQL is a named query, a literal, or `psycopg.sql` composition."""
    offenders, seen = [], 0
    for folder in ("app", "worker", "db"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            tree = ast.parse(path.read_text())
            constants = _module_constants(tree)
            for function in [
                tree,
                *(
                    n
                    for n in ast.walk(tree)
                    if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                ),
            ]:
                assigned: dict[str, list[ast.AST]] = {}
                for node in ast.walk(function):
                    if (
                        isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign)
                        and node.value is not None
                    ):
                        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                        for target in targets:
                            if isinstance(target, ast.Name):
                                assigned.setdefault(target.id, []).append(node.value)
                for node in ast.walk(function):
                    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                        continue
                    if node.func.attr not in EXECUTORS or not node.args:
                        continue
                    seen += 1
                    argument = node.args[0]
                    source = ast.unparse(argument)
                    if (relative, source) in {(f, s) for f, s, _ in REVIEWED}:
                        continue
                    if not _sql_argument_ok(argument, constants, assigned):
                        offenders.append(f"{relative}:{node.lineno}: {node.func.attr}({source}, …)")
    assert seen >= 30, seen  # the scan does see the repositories
    assert offenders == [], "\n".join(offenders)
    # And sql.SQL is never fed anything but a literal, outside the query loader.
    for folder in ("app", "worker", "db"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and ast.unparse(node.func) in ("sql.SQL", "SQL"):
                    literal = all(isinstance(a, ast.Constant) for a in node.args)
                    assert literal or path.name == "queries.py", f"{path}:{node.lineno}"


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


# --- limits ------------------------------------------------------------------------------------


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
