"""SSRF through the running service: refused target URLs over the API (create, PATCH, no
allowlist), and redirects from an allowlisted target not followed by a real worker."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.security.conftest import (
    ALLOWED_PREFIX,
    PAUSED,
    error_body,
    security_settings,
)
from tests.security.test_url_policy import ALLOWED_TARGETS, REFUSED_TARGETS
from tests.support.db import wait_until
from tests.support.server import make_token, running_api
from tests.support.target import RecordingTarget, Response
from tests.support.workers import WorkerProcess


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
