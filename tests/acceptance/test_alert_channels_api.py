"""POST/GET/PATCH/DELETE /api/alert-channels and POST …/{id}/test over real HTTP (issue 12)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest

from app.services.alert_channels import MAX_CHANNELS_PER_TENANT
from app.settings import Settings
from tests.support.alerts import insert_channel, insert_schedule

HOOKS = "https://hooks.example.com/alerts"
SLACK = "https://hooks.slack.com/services/T000/B000/XXXXTOKEN"
WEBHOOK = {"name": "ops hook", "kind": "webhook", "url": HOOKS, "events": ["run.failed"]}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        scheduler_target_allowlist="https://hooks.example.com,https://hooks.slack.com/services",
        log_format="console",
    )


def _error(answer: httpx.Response, status: int, field: str | None) -> str:
    assert answer.status_code == status, (answer.status_code, answer.text[:500])
    body = answer.json()
    if field is not None:
        # A list item is named by its index: `events.0`.
        assert [e["field"].split(".")[0] for e in body["errors"]] == [field], body
    return str(body["message"])


def _create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    answer = client.post("/api/alert-channels", json={**WEBHOOK, **fields})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_a_webhook_channel_is_created_read_changed_and_deleted(
    client: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    created = _create(client)
    secret = created.pop("secret")
    assert secret.startswith("whsec_") and len(secret) > 40
    assert created["kind"] == "webhook" and created["url"] == HOOKS
    assert created["events"] == ["run.failed"] and created["scheduleIds"] is None
    channel_id = created["id"]

    read = client.get(f"/api/alert-channels/{channel_id}").json()
    assert "secret" not in read and read == {**created, "updatedAt": read["updatedAt"]}
    assert [c["id"] for c in client.get("/api/alert-channels").json()["items"]] == [channel_id]
    assert secret not in client.get("/api/alert-channels").text

    schedule = {"id": str(insert_schedule(db, "acme"))}
    changed = client.patch(
        f"/api/alert-channels/{channel_id}",
        json={
            "name": "renamed",
            "events": ["run.late", "run.failed", "run.late"],
            "scheduleIds": [schedule["id"]],
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "renamed"
    assert changed.json()["events"] == ["run.late", "run.failed"]  # duplicates dropped
    assert changed.json()["scheduleIds"] == [schedule["id"]]
    back = client.patch(f"/api/alert-channels/{channel_id}", json={"scheduleIds": None})
    assert back.json()["scheduleIds"] is None and back.json()["name"] == "renamed"

    assert client.delete(f"/api/alert-channels/{channel_id}").status_code == 204
    _error(client.get(f"/api/alert-channels/{channel_id}"), 404, None)
    assert client.get("/api/alert-channels").json()["items"] == []


def test_slack_and_email_channels(client: httpx.Client) -> None:
    slack = _create(client, kind="slack", url=SLACK, events=["slot.missed"])
    assert slack["secret"] is None
    assert slack["url"] == "https://hooks.slack.com/services/T000/B000/…"  # a credential
    assert "XXXXTOKEN" not in client.get("/api/alert-channels").text
    email = _create(client, kind="email", url=None, address="ops@example.com")
    assert email["secret"] is None and email["address"] == "ops@example.com"
    assert email["url"] is None


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"url": "https://evil.example.net/x"}, "url", "SCHEDULER_TARGET_ALLOWLIST"),
        ({"url": "http://127.0.0.1:8000/api"}, "url", "SCHEDULER_TARGET_ALLOWLIST"),
        ({"url": None}, "url", "required for a webhook channel"),
        ({"address": "ops@example.com"}, "address", "takes a url"),
        ({"kind": "email", "url": None}, "address", "required for an email channel"),
        (
            {"kind": "email", "url": None, "address": "a@x.com\nBcc: b@y.com"},
            "address",
            "one address",
        ),
        ({"kind": "email"}, "url", "takes an address"),
        ({"kind": "sms"}, "kind", ""),
        ({"events": []}, "events", ""),
        ({"events": ["run.exploded"]}, "events", ""),
        ({"name": " "}, "name", ""),
        ({"scheduleIds": []}, "scheduleIds", "leave it out"),
        ({"scheduleIds": [str(uuid4())]}, "scheduleIds", "no schedule of yours"),
        ({"secret": "whsec_mine"}, "secret", ""),
    ],
)
def test_bad_channels_are_422_naming_the_field(
    client: httpx.Client, body: dict[str, Any], field: str, words: str
) -> None:
    message = _error(client.post("/api/alert-channels", json={**WEBHOOK, **body}), 422, field)
    assert words in message


def test_bad_changes_are_422_naming_the_field(client: httpx.Client) -> None:
    channel_id = _create(client)["id"]
    path = f"/api/alert-channels/{channel_id}"
    _error(client.patch(path, json={"kind": "email"}), 422, "kind")
    _error(client.patch(path, json={"url": "https://evil.example.net/"}), 422, "url")
    _error(client.patch(path, json={"events": None}), 422, "events")
    _error(client.patch(path, json={"address": "ops@example.com"}), 422, "address")
    assert client.get(path).json()["url"] == HOOKS  # nothing changed


def test_another_tenants_channel_is_404_everywhere(
    client: httpx.Client, other_client: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    channel_id = _create(client)["id"]
    path = f"/api/alert-channels/{channel_id}"
    _error(other_client.get(path), 404, None)
    _error(other_client.patch(path, json={"name": "mine now"}), 404, None)
    _error(other_client.delete(path), 404, None)
    _error(other_client.post(f"{path}/test"), 404, None)
    assert other_client.get("/api/alert-channels").json()["items"] == []
    assert client.get(path).json()["name"] == "ops hook"
    assert db.execute("SELECT count(*) FROM alert_deliveries").fetchone() == (0,)
    # Nor may a channel subscribe to another tenant's schedule.
    theirs = str(insert_schedule(db, "globex"))
    _error(client.patch(path, json={"scheduleIds": [theirs]}), 422, "scheduleIds")


def test_a_test_alert_is_queued_in_the_outbox(
    client: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    created = _create(client)
    answer = client.post(f"/api/alert-channels/{created['id']}/test")
    assert answer.status_code == 202, answer.text
    delivery_id = answer.json()["deliveryId"]
    row = db.execute(
        "SELECT tenant, channel_id::text, incident_id, event_type, payload, status"
        " FROM alert_deliveries WHERE id = %s",
        (delivery_id,),
    ).fetchone()
    assert row == (
        "acme",
        created["id"],
        None,
        "channel.test",
        {
            "type": "channel.test",
            "tenant": "acme",
            "channel": {"id": created["id"], "name": "ops hook", "kind": "webhook"},
        },
        "pending",
    )


def test_anonymous_is_401(anonymous: httpx.Client) -> None:
    assert anonymous.get("/api/alert-channels").status_code == 401
    assert anonymous.post("/api/alert-channels", json=WEBHOOK).status_code == 401


def test_a_tenant_has_at_most_100_channels(
    client: httpx.Client, other_client: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    for _ in range(MAX_CHANNELS_PER_TENANT - 1):
        insert_channel(db, "acme", "email", address="ops@example.com")
    assert client.post("/api/alert-channels", json=WEBHOOK).status_code == 201
    message = _error(client.post("/api/alert-channels", json=WEBHOOK), 409, None)
    assert f"at most {MAX_CHANNELS_PER_TENANT} alert channels" in message
    assert other_client.post("/api/alert-channels", json=WEBHOOK).status_code == 201  # per tenant
