"""What belongs to a tenant stays the tenant's (issue 10, items 4 and 5; L4), end to end: real
API, real workers, a real loopback target.

- Keys per tenant (H5): a schedule's own targetUrl is signed with its tenant's key, never with
  the deployment secret; a rotation sends both signatures for its grace period.
- Ids are the tenant's (M1): another tenant cannot take a schedule id while anything of it is
  stored, so it inherits nothing; A's waiting runs end with A's delete.
- A run keeps its own target, input and limits (L4): a PATCH does not redirect its retries.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.webhook import verify_signature
from tests.security.conftest import SECRET, security_settings
from tests.support.db import wait_until
from tests.support.server import make_token, running_api
from tests.support.target import RecordingTarget, Response
from tests.support.workers import WorkerProcess

ROOT = Path(__file__).resolve().parents[2]
PAUSED = {"workflowId": "wf", "cronExpression": "0 6 * * *", "enabled": False}


def scheduler_cli(database_url: str, *args: str) -> list[str]:
    """`scheduler ...` as an operator runs it; its stdout lines."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, "DATABASE_URL": database_url},
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.splitlines()


@pytest.fixture
def hooks(target: RecordingTarget) -> str:
    return f"{target.url}/hooks"


@pytest.fixture
def tenants(
    database_url: str, hooks: str, start_worker: Callable[..., WorkerProcess]
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """A worker signing with the deployment SECRET, an API, and clients of tenants A and B."""
    start_worker(INTERNAL_API_SECRET=SECRET, SCHEDULER_TARGET_ALLOWLIST=hooks)
    settings = security_settings(
        database_url, scheduler_target_allowlist=hooks, internal_api_secret=SECRET
    )
    with running_api(settings) as url:
        clients = [
            httpx.Client(
                base_url=url,
                headers={"Authorization": f"Bearer {make_token(database_url, tenant)}"},
                timeout=10,
            )
            for tenant in ("acme", "globex")
        ]
        try:
            yield clients[0], clients[1]
        finally:
            for c in clients:
                c.close()


def _create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    created = client.post("/api/schedules", json={**PAUSED, **fields})
    assert created.status_code == 201, created.text
    return dict(created.json())


def _finished(client: httpx.Client, execution_id: str, what: str) -> dict[str, Any]:
    return dict(
        wait_until(
            lambda: (
                (e := client.get(f"/api/executions/{execution_id}").json())["status"]
                in ("succeeded", "failed", "cancelled")
                and e
            ),
            30,
            what,
        )
    )


def test_own_targets_are_signed_with_the_tenant_key_default_target_with_the_deployment_key(
    database_url: str,
    target: RecordingTarget,
    hooks: str,
    tenants: tuple[httpx.Client, httpx.Client],
) -> None:
    """H5: before, the own-target delivery carried `Authorization: Bearer <deployment secret>`
    and a signature made with it: the tenant learnt the key that signs for everyone."""
    acme, _ = tenants
    acme_key = scheduler_cli(database_url, "key", "show", "--tenant", "acme")[-1]
    globex_key = scheduler_cli(database_url, "key", "show", "--tenant", "globex")[-1]
    assert acme_key.startswith("whsec_") and globex_key.startswith("whsec_")
    assert acme_key != globex_key

    own = _create(acme, workflowId="own", targetUrl=f"{hooks}/own")
    default = _create(acme, workflowId="default")
    for schedule in (own, default):
        run = acme.post(f"/api/schedules/{schedule['id']}/trigger").json()
        assert _finished(acme, run["id"], "the run to finish")["status"] == "succeeded"
    [to_own] = target.requests("own")
    [to_default] = target.requests("default")
    now = int(time.time())

    assert "authorization" not in to_own.headers
    assert SECRET not in repr(to_own.headers)
    assert verify_signature(acme_key, to_own.headers, to_own.body, now=now)
    assert not verify_signature(SECRET, to_own.headers, to_own.body, now=now)
    assert not verify_signature(globex_key, to_own.headers, to_own.body, now=now)

    # The default target keeps the replaced system's contract.
    assert to_default.headers["authorization"] == f"Bearer {SECRET}"
    assert verify_signature(SECRET, to_default.headers, to_default.body, now=now)
    assert not verify_signature(acme_key, to_default.headers, to_default.body, now=now)

    # Rotation: the new key is current, the old one still signs during the grace period.
    rotated = scheduler_cli(database_url, "key", "rotate", "--tenant", "acme", "--grace", "3600")
    new_key = rotated[-1]
    assert new_key != acme_key and any(acme_key in line and "until" in line for line in rotated)
    run = acme.post(f"/api/schedules/{own['id']}/trigger").json()
    assert _finished(acme, run["id"], "the run after the rotation")["status"] == "succeeded"
    after = target.requests("own")[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 2
    assert verify_signature(new_key, after.headers, after.body, now=int(time.time()))
    assert verify_signature(acme_key, after.headers, after.body, now=int(time.time()))

    # Grace 0: every older key stops signing at once.
    final_key = scheduler_cli(database_url, "key", "rotate", "--tenant", "acme", "--grace", "0")
    assert final_key[-1] not in (new_key, acme_key) and len(final_key) == 3
    run = acme.post(f"/api/schedules/{own['id']}/trigger").json()
    assert _finished(acme, run["id"], "the run after the second rotation")["status"] == "succeeded"
    last = target.requests("own")[-1]
    assert last.headers["webhook-signature"].count("v1,") == 1
    assert verify_signature(final_key[-1], last.headers, last.body, now=int(time.time()))
    for retired in (acme_key, new_key):
        assert not verify_signature(retired, last.headers, last.body, now=int(time.time()))


def test_a_retrying_run_keeps_its_target_and_input_and_ends_with_its_schedule(
    target: RecordingTarget,
    hooks: str,
    tenants: tuple[httpx.Client, httpx.Client],
) -> None:
    """L4 and M1: before, A's retry went to the PATCHed targetUrl; after A's delete, B could
    re-create the id with its own targetUrl and receive A's retrying run with A's input."""
    acme, globex = tenants
    # First run: 503 then 200. Its retry must go where and with what the run started.
    target.script("wf-a", [Response(503, headers={"Retry-After": "1"}), Response(200)])
    a = _create(
        acme,
        workflowId="wf-a",
        targetUrl=f"{hooks}/a",
        input={"secret": "TENANT-A-PRIVATE"},
        maxAttempts=3,
    )
    run = acme.post(f"/api/schedules/{a['id']}/trigger").json()
    wait_until(
        lambda: acme.get(f"/api/executions/{run['id']}").json()["status"] == "retrying",
        20,
        "the first attempt to fail and schedule a retry",
    )
    patched = acme.patch(
        f"/api/schedules/{a['id']}", json={"targetUrl": f"{hooks}/moved", "input": {"v": 2}}
    )
    assert patched.status_code == 200, patched.text
    assert _finished(acme, run["id"], "the retry")["status"] == "succeeded"
    sent = target.requests("wf-a")
    assert [r.path for r in sent] == ["/hooks/a", "/hooks/a"]
    assert all(r.json()["input"] == {"secret": "TENANT-A-PRIVATE"} for r in sent)

    # Second run: its retry is pending when A deletes the schedule.
    target.script("wf-a", [Response(503, headers={"Retry-After": "2"}), Response(200)])
    second = acme.post(f"/api/schedules/{a['id']}/trigger").json()
    wait_until(
        lambda: acme.get(f"/api/executions/{second['id']}").json()["status"] == "retrying",
        20,
        "the second run to wait for its retry",
    )
    assert acme.delete(f"/api/schedules/{a['id']}").status_code == 204
    assert acme.get(f"/api/executions/{second['id']}").json()["status"] == "cancelled"

    # B cannot take the id (create or register), and sees nothing of A's.
    taken = globex.post(
        "/api/schedules",
        json={**PAUSED, "id": a["id"], "workflowId": "wf-b", "targetUrl": f"{hooks}/b"},
    )
    assert taken.status_code == 409, taken.text
    assert globex.get(f"/api/schedules/{a['id']}").status_code == 404
    assert globex.get(f"/api/schedules/{a['id']}/executions").status_code == 404
    assert globex.get(f"/api/executions/{second['id']}").status_code == 404
    stats = globex.get("/api/stats").json()
    assert stats["total"] == 0, stats

    # A's view is whole: its history, and its own id back if it wants it.
    history = acme.get(f"/api/executions/{run['id']}").json()
    assert history["status"] == "succeeded"
    again = acme.post("/api/schedules", json={**PAUSED, "id": a["id"], "workflowId": "wf-a"})
    assert again.status_code == 201, again.text

    # Nothing of A's ever reached B's target; A's cancelled run is never taken again (a start
    # claims pending, retrying or running runs only).
    assert target.requests("wf-b") == []
    # (The second run was created after the PATCH: it went to the new target.)
    assert [r.path for r in target.requests("wf-a")] == ["/hooks/a", "/hooks/a", "/hooks/moved"]
