"""POST /api/schedules/batch over real HTTP: per-item results, the single create's errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

from app.api.schemas import BATCH_MAX_ITEMS
from app.services.batch import MAX_BATCH
from app.settings import Settings
from tests.support.server import make_token, running_api

GOOD = {"workflowId": "wf", "cronExpression": "*/5 * * * *"}
BAD_CHANGES: list[dict[str, Any]] = [
    {"cronExpression": "60 * * * *"},
    {"cronExpression": "0 0 30 2 *"},
    {"timezone": "America/Chicgo"},
    {"workflowId": ""},
    {"maxAttempts": 0, "overlapPolicy": "sometimes"},
    {"cronExpresion": "* * * * *"},
    {"startAt": "2030-01-01T00:00:00"},
    {"targetUrl": "http://169.254.169.254/latest"},
    {"input": {"big": "x" * 70_000}},
    {"endAt": "2030-01-01T00:00:00Z", "startAt": "2031-01-01T00:00:00Z"},
    {"id": "not-a-uuid"},
]


def _batch(client: httpx.Client, items: list[Any]) -> dict[str, Any]:
    answer = client.post("/api/schedules/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_limit_is_the_services() -> None:
    assert BATCH_MAX_ITEMS == MAX_BATCH == 1_000


def test_each_bad_item_gets_the_single_creates_answer(client: httpx.Client) -> None:
    items = [{**GOOD, **change} for change in BAD_CHANGES]
    good_id = str(uuid4())
    items.insert(3, {**GOOD, "id": good_id})
    items.append(5)  # not an object at all
    body = _batch(client, items)
    results = body["items"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert results[3] == {
        "index": 3,
        "id": good_id,
        "status": "created",
        "error": None,
        "message": None,
        "errors": [],
    }
    assert client.get(f"/api/schedules/{good_id}").status_code == 200
    assert (body["created"], body["updated"], body["unchanged"], body["failed"]) == (
        1,
        0,
        0,
        len(items) - 1,
    )
    for index, item in enumerate(items):
        if index == 3 or not isinstance(item, dict):
            continue
        single = client.post("/api/schedules", json=item)
        assert single.status_code == 422, (item, single.text)
        expected = single.json()
        got = results[index]
        assert got["status"] == "error"
        assert got["error"] == expected["error"] == "validation_failed"
        key = lambda e: (e["field"] or "", e["message"])  # noqa: E731
        assert sorted(got["errors"], key=key) == sorted(expected["errors"], key=key), item
        assert {e["field"] for e in got["errors"]} <= set(got["message"].replace(":", " ").split())
    assert results[-1]["errors"] == [
        {"field": None, "message": "must be a JSON object (a schedule)"}
    ]
    assert results[-2]["id"] is None  # "not-a-uuid" names no id


def test_upsert_by_id_and_unchanged(client: httpx.Client) -> None:
    first = _batch(client, [{**GOOD, "workflowId": f"wf-{i}"} for i in range(3)])
    ids = [r["id"] for r in first["items"]]
    assert [r["status"] for r in first["items"]] == ["created"] * 3
    before = client.get(f"/api/schedules/{ids[0]}").json()
    second = _batch(
        client,
        [
            {"id": ids[0], "workflowId": "wf-0", "cronExpression": "*/5 * * * *"},
            {"id": ids[1], "workflowId": "wf-1", "cronExpression": "0 * * * *", "input": {"a": 1}},
            {**GOOD, "id": ids[2], "enabled": False, "pauseNote": "imported paused"},
            {**GOOD, "workflowId": "new"},
        ],
    )
    assert [r["status"] for r in second["items"]] == ["unchanged", "updated", "updated", "created"]
    assert client.get(f"/api/schedules/{ids[0]}").json()["version"] == before["version"]
    changed = client.get(f"/api/schedules/{ids[1]}").json()
    assert (changed["cronExpression"], changed["input"], changed["version"]) == (
        "0 * * * *",
        {"a": 1},
        2,
    )
    paused = client.get(f"/api/schedules/{ids[2]}").json()
    assert (paused["state"], paused["pauseNote"], paused["nextRunAt"]) == (
        "paused",
        "imported paused",
        None,
    )


def test_ids_of_another_tenant_and_repeated_ids(
    client: httpx.Client, other_client: httpx.Client
) -> None:
    theirs = other_client.post("/api/schedules", json=GOOD).json()["id"]
    mine = str(uuid4())
    body = _batch(
        client,
        [{**GOOD, "id": theirs}, {**GOOD, "id": mine}, {**GOOD, "id": mine, "workflowId": "x"}],
    )
    taken, created, repeated = body["items"]
    assert (taken["status"], taken["error"], taken["errors"][0]["field"]) == (
        "error",
        "conflict",
        "id",
    )
    assert created["status"] == "created"
    assert repeated["status"] == "error" and "item 1" in repeated["message"]
    # The other tenant's schedule is untouched, and still theirs.
    assert other_client.get(f"/api/schedules/{theirs}").json()["version"] == 1
    assert client.get(f"/api/schedules/{theirs}").status_code == 404


def test_more_than_a_thousand_is_refused_naming_the_field(client: httpx.Client) -> None:
    answer = client.post("/api/schedules/batch", json={"items": [GOOD] * 1_001})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "items"
    assert "1000" in answer.json()["message"]
    assert client.get("/api/schedules").json()["items"] == []


@pytest.fixture
def small_quota_client(database_url: str) -> Iterator[httpx.Client]:
    settings = Settings(database_url=database_url, scheduler_tenant_max_schedules=5)
    with (
        running_api(settings) as url,
        httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {make_token(database_url, 'acme')}"},
            timeout=10,
        ) as client,
    ):
        yield client


def test_quota_applies_to_the_whole_batch(small_quota_client: httpx.Client) -> None:
    client = small_quota_client
    assert client.post("/api/schedules", json=GOOD).status_code == 201
    refused = client.post("/api/schedules/batch", json={"items": [GOOD] * 5})
    assert refused.status_code == 429, refused.text
    assert "SCHEDULER_TENANT_MAX_SCHEDULES" in refused.json()["message"]
    assert "this request creates 5" in refused.json()["message"]
    assert len(client.get("/api/schedules").json()["items"]) == 1  # nothing written
    assert _batch(client, [GOOD] * 4)["created"] == 4


def test_a_batch_may_be_bigger_than_other_bodies(client: httpx.Client) -> None:
    """1,000 schedules with 2 KiB of input each (2 MiB: over the 1 MiB of other requests) are
    one batch; past 8 MiB the request is refused before the body is read whole (413)."""
    items = [{**GOOD, "input": {"pad": "x" * 2_048}} for _ in range(1_000)]
    assert _batch(client, items)["created"] == 1_000
    huge = [{**GOOD, "input": {"pad": "x" * 60_000}} for _ in range(150)]  # ~9 MB
    answer = client.post("/api/schedules/batch", json={"items": huge})
    assert answer.status_code == 413, answer.text
