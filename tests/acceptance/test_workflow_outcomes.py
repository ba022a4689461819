"""Workflow outcomes end to end (issue 11): a real worker delivers to a real loopback workflow
endpoint that answers 202 Accepted, and the workflow reports later through `callbackUrl` to the
real API, over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.support.db import wait_until
from tests.support.target import Received, RecordingTarget, Response
from tests.support.workers import WorkerProcess

FAR_CRON = "0 0 1 1 *"  # never due during a test: runs come from "run now"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        log_format="console",
        metrics_cache_seconds=0,
        scheduler_report_rate=0.5,
        scheduler_report_burst=20,
    )


@pytest.fixture
def worker(api_url: str, start_worker: Callable[..., WorkerProcess]) -> WorkerProcess:
    return start_worker(SCHEDULER_PUBLIC_URL=api_url)


def _schedule(client: httpx.Client, workflow_id: str, **fields: Any) -> str:
    answer = client.post(
        "/api/schedules",
        json={"workflowId": workflow_id, "cronExpression": FAR_CRON, **fields},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _run_now(client: httpx.Client, schedule_id: str) -> str:
    answer = client.post(f"/api/schedules/{schedule_id}/trigger")
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def _delivery(target: RecordingTarget, workflow_id: str, attempt: int = 1) -> Received:
    got = target.wait_for(lambda _: len(target.requests(workflow_id)) >= attempt, timeout=15)
    assert got, f"no delivery {attempt} for {workflow_id}"
    return target.requests(workflow_id)[attempt - 1]


def _execution(client: httpx.Client, execution_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/executions/{execution_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _until_status(
    client: httpx.Client, execution_id: str, status: str, timeout: float = 15
) -> dict[str, Any]:
    return dict(
        wait_until(
            lambda: (e := _execution(client, execution_id))["status"] == status and e,
            timeout,
            f"execution {execution_id} {status}",
        )
    )


def _report(
    delivery: Received, body: dict[str, Any], *, token: str | None = None, url: str | None = None
) -> httpx.Response:
    """What a workflow does when it ends: POST its result to the delivery's callbackUrl."""
    token = token or delivery.headers["x-scheduler-callback-token"]
    return httpx.post(
        url or delivery.json()["callbackUrl"],
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def _heartbeat(delivery: Received) -> httpx.Response:
    url = delivery.json()["callbackUrl"].replace("/result", "/heartbeat")
    token = delivery.headers["x-scheduler-callback-token"]
    return httpx.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_a_workflow_reports_success_and_the_history_knows_how_it_ended(
    client: httpx.Client,
    target: RecordingTarget,
    worker: WorkerProcess,
    api_url: str,
    anonymous: httpx.Client,
) -> None:
    target.script("wf-ok", [Response(202, body={"runId": "lg-42"})])
    schedule_id = _schedule(client, "wf-ok")
    execution_id = _run_now(client, schedule_id)
    delivery = _delivery(target, "wf-ok")
    assert delivery.json()["callbackUrl"] == f"{api_url}/api/executions/{execution_id}/result"
    assert delivery.headers["x-scheduler-callback-token"].startswith("wfcb_")

    accepted = _until_status(client, execution_id, "accepted")
    assert accepted["acceptedAt"] and accepted["completionDeadline"]
    assert (accepted["httpStatus"], accepted["workflowRunId"]) == (202, "lg-42")
    assert accepted["durationMs"] is None and accepted["finishedAt"] is None
    metrics = anonymous.get("/metrics").text
    assert "scheduler_runs_awaiting_result 1" in metrics

    time.sleep(0.5)  # the workflow takes a while: its duration is the execution's
    answer = _report(delivery, {"status": "succeeded", "output": {"rows": 12}})
    assert answer.status_code == 200, answer.text
    ended = answer.json()
    assert ended["status"] == "succeeded" and ended["output"] == {"rows": 12}
    assert ended["durationMs"] >= 500

    again = _report(delivery, {"status": "succeeded", "output": {"rows": 12}})
    assert again.status_code == 200 and again.json()["finishedAt"] == ended["finishedAt"]
    different = _report(delivery, {"status": "failed", "error": "no"})
    assert different.status_code == 409
    assert "succeeded" in different.json()["message"]

    stats = client.get(f"/api/schedules/{schedule_id}").json()["stats"]
    assert stats["succeeded"] == 1 and stats["successRate"] == 100.0
    metrics = anonymous.get("/metrics").text
    assert "scheduler_runs_awaiting_result 0" in metrics
    assert "scheduler_result_wait_seconds_count 1" in metrics


def test_failed_and_retryable_reports(
    client: httpx.Client, target: RecordingTarget, worker: WorkerProcess
) -> None:
    target.script("wf-fails", [Response(202)])
    target.script("wf-flaky", [Response(202), Response(200)])
    failing = _run_now(client, _schedule(client, "wf-fails", maxAttempts=3))
    flaky = _run_now(client, _schedule(client, "wf-flaky", maxAttempts=2, retryBackoffSeconds=1))
    first_fail, first_flaky = _delivery(target, "wf-fails"), _delivery(target, "wf-flaky")
    _until_status(client, failing, "accepted")
    _until_status(client, flaky, "accepted")

    answer = _report(first_fail, {"status": "failed", "error": "the model refused"})
    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["error"]) == ("failed", "the model refused")

    answer = _report(first_flaky, {"status": "failed", "error": "rate limited", "retryable": True})
    assert answer.status_code == 200 and answer.json()["status"] == "retrying"
    second = _delivery(target, "wf-flaky", attempt=2)
    assert second.headers["idempotency-key"] == first_flaky.headers["idempotency-key"]
    assert second.headers["x-scheduler-attempt"] == "2"
    assert second.json()["callbackUrl"] == first_flaky.json()["callbackUrl"]
    done = _until_status(client, flaky, "succeeded")
    assert done["attempts"] == 2
    assert len(target.requests("wf-fails")) == 1, "a failure that is not retryable is final"


def test_a_silent_workflow_times_out_and_heartbeats_keep_a_long_one_alive(
    client: httpx.Client, target: RecordingTarget, worker: WorkerProcess
) -> None:
    target.script("wf-silent", [Response(202)])
    target.script("wf-long", [Response(202)])
    silent = _run_now(client, _schedule(client, "wf-silent", completionTimeoutSeconds=2))
    long = _run_now(client, _schedule(client, "wf-long", completionTimeoutSeconds=4))
    long_delivery = _delivery(target, "wf-long")
    _until_status(client, long, "accepted")
    started = time.monotonic()
    # An 8 s workflow with a 4 s timeout, alive by a heartbeat every 2 s.
    while time.monotonic() - started < 8:
        beat = _heartbeat(long_delivery)
        assert beat.status_code == 200, beat.text
        assert beat.json()["status"] == "accepted"
        time.sleep(2)

    timed_out = _until_status(client, silent, "timed_out", timeout=10)
    assert "completionTimeoutSeconds" in timed_out["error"]
    late = _report(_delivery(target, "wf-silent"), {"status": "succeeded"})
    assert late.status_code == 409 and "timed_out" in late.json()["message"]
    beat = _heartbeat(_delivery(target, "wf-silent"))
    assert beat.status_code == 409 and "timed_out" in beat.json()["message"]

    answer = _report(long_delivery, {"status": "succeeded"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "succeeded"
    assert answer.json()["durationMs"] >= 8_000

    stats = client.get("/api/stats").json()
    assert (stats["timedOut"], stats["succeeded"]) == (1, 1)
    assert stats["successRate"] == 50.0


def test_who_may_report(
    client: httpx.Client,
    other_client: httpx.Client,
    anonymous: httpx.Client,
    target: RecordingTarget,
    worker: WorkerProcess,
) -> None:
    target.script("wf-a", [Response(202)])
    target.script("wf-b", [Response(202)])
    a = _run_now(client, _schedule(client, "wf-a"))
    b = _run_now(client, _schedule(client, "wf-b"))
    delivery_a, delivery_b = _delivery(target, "wf-a"), _delivery(target, "wf-b")
    _until_status(client, a, "accepted")
    _until_status(client, b, "accepted")
    done = {"status": "succeeded"}

    # Another execution's callback token, a made-up one, none: 401.
    other_token = delivery_b.headers["x-scheduler-callback-token"]
    assert _report(delivery_a, done, token=other_token).status_code == 401
    assert _report(delivery_a, done, token="wfcb_" + "A" * 43).status_code == 401
    assert anonymous.post(f"/api/executions/{a}/result", json=done).status_code == 401
    # A callback token opens nothing else.
    own_token = delivery_a.headers["x-scheduler-callback-token"]
    listing = httpx.get(
        f"{client.base_url}/api/schedules", headers={"Authorization": f"Bearer {own_token}"}
    )
    assert listing.status_code == 401
    # Another tenant's API token: the execution does not exist for it.
    foreign = other_client.post(f"/api/executions/{a}/result", json=done)
    assert foreign.status_code == 404
    assert other_client.post(f"/api/executions/{a}/heartbeat").status_code == 404
    # The tenant's own API token works for its own executions.
    own = client.post(f"/api/executions/{a}/result", json=done)
    assert own.status_code == 200 and own.json()["status"] == "succeeded"
    assert _execution(client, b)["status"] == "accepted"


def test_reports_are_validated_and_rate_limited(
    client: httpx.Client, target: RecordingTarget, worker: WorkerProcess
) -> None:
    target.script("wf-v", [Response(202)])
    execution_id = _run_now(client, _schedule(client, "wf-v"))
    delivery = _delivery(target, "wf-v")
    _until_status(client, execution_id, "accepted")
    cases = [
        ({"status": "done"}, "status"),
        ({"status": "failed", "error": "x" * 2049}, "error"),
        ({"status": "succeeded", "output": [1, 2]}, "output"),
        ({"status": "succeeded", "output": {"blob": "y" * 17_000}}, "output"),
        ({"status": "succeeded", "extra": 1}, "extra"),
    ]
    for body, field in cases:
        answer = _report(delivery, body)
        assert answer.status_code == 422, (body, answer.text)
        assert field in [e["field"] for e in answer.json()["errors"]], answer.text
    assert _execution(client, execution_id)["status"] == "accepted"

    # 20 at once, then 1 every 2 s (this test's settings): the rest are refused with 429.
    answers = [_heartbeat(delivery) for _ in range(25)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and int(limited[0].headers["retry-after"]) >= 1


def test_a_report_is_recorded_while_every_worker_is_stopped(
    client: httpx.Client, target: RecordingTarget, worker: WorkerProcess
) -> None:
    target.script("wf-alone", [Response(202)])
    execution_id = _run_now(client, _schedule(client, "wf-alone"))
    delivery = _delivery(target, "wf-alone")
    _until_status(client, execution_id, "accepted")
    worker.stop(timeout=30)
    assert not worker.alive

    answer = _report(delivery, {"status": "succeeded", "output": {"ok": True}})
    assert answer.status_code == 200, answer.text
    assert _execution(client, execution_id)["status"] == "succeeded"


def test_a_report_faster_than_the_recording_of_its_202_is_kept_for_it(
    client: httpx.Client, target: RecordingTarget, worker: WorkerProcess
) -> None:
    """The workflow reports while its 202 is still on the wire: the API keeps the report (202)
    and the worker applies it the moment it records the 202."""
    target.script("wf-fast", [Response(202, delay_seconds=1.5)])
    execution_id = _run_now(client, _schedule(client, "wf-fast"))
    delivery = _delivery(target, "wf-fast")  # recorded on arrival, answered 1.5 s later
    reported: dict[str, httpx.Response] = {}

    def report() -> None:
        reported["answer"] = _report(delivery, {"status": "succeeded"})

    thread = threading.Thread(target=report)
    thread.start()
    thread.join(timeout=10)
    assert reported["answer"].status_code == 202, reported["answer"].text
    assert reported["answer"].json()["status"] == "running"
    done = _until_status(client, execution_id, "succeeded")
    assert done["httpStatus"] == 202
