"""Outbox rows written directly, as the incidents code writes them, for the sender's tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import psycopg
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

Db = psycopg.Connection[tuple[object, ...]]


def incident_payload(
    tenant: str, event: str = "incident.opened", **incident: Any
) -> dict[str, Any]:
    return {
        "type": event,
        "incident": {
            "id": str(uuid4()),
            "kind": "run.failed",
            "scheduleId": str(uuid4()),
            "workflowId": "nightly-report",
            "tenant": tenant,
            "openedAt": "2026-12-04T12:00:00Z",
            "resolvedAt": None,
            "occurrences": 1,
            "lastExecutionId": None,
            "summary": "nightly-report failed: HTTP 500",
            "dashboardUrl": "http://localhost:8000/schedules/x",
            **incident,
        },
    }


def insert_channel(
    db: Db,
    tenant: str,
    kind: str,
    *,
    url: str | None = None,
    address: str | None = None,
    secret: str | None = None,
) -> UUID:
    row = db.execute(
        "INSERT INTO alert_channels (tenant, name, kind, url, address, secret, events)"
        " VALUES (%s, %s, %s, %s, %s, %s, ARRAY['run.failed']) RETURNING id",
        (tenant, f"{kind} channel", kind, url, address, secret),
    ).fetchone()
    assert row is not None
    return UUID(str(row[0]))


def insert_delivery(db: Db, channel_id: UUID, payload: dict[str, Any]) -> UUID:
    """An incident (from the payload) and one delivery of it to the channel, due now."""
    incident = payload["incident"]
    db.execute(
        "INSERT INTO alert_incidents (id, tenant, trigger_id, workflow_id, kind, opened_at,"
        " summary) VALUES (%s, %s, %s, %s, %s, now(), %s) ON CONFLICT (id) DO NOTHING",
        (
            incident["id"],
            incident["tenant"],
            incident["scheduleId"],
            incident["workflowId"],
            incident["kind"],
            incident["summary"],
        ),
    )
    row = db.execute(
        "INSERT INTO alert_deliveries (tenant, channel_id, incident_id, event_type, payload)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (incident["tenant"], channel_id, incident["id"], payload["type"], json.dumps(payload)),
    ).fetchone()
    assert row is not None
    return UUID(str(row[0]))


def deliveries(db: Db) -> dict[UUID, tuple[str, int, str | None]]:
    """{id: (status, attempts, last_error)} of every delivery."""
    rows = db.execute("SELECT id, status, attempts, last_error FROM alert_deliveries").fetchall()
    return {UUID(str(r[0])): (str(r[1]), int(str(r[2])), r[3] and str(r[3])) for r in rows}


def standard_webhooks_check(secret: str) -> Callable[[dict[str, str], bytes], bool]:
    """A receiver's check made with the `standardwebhooks` package (not our own verifier)."""
    webhook = Webhook(secret)

    def check(headers: dict[str, str], body: bytes) -> bool:
        try:
            webhook.verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    return check


def insert_schedule(db: Db, tenant: str) -> UUID:
    """A paused schedule of `tenant`, written directly (a channel's scheduleIds names it)."""
    row = db.execute(
        "INSERT INTO workflow_schedules (id, tenant, workflow_id, cron_expression, state, enabled)"
        " VALUES (%s, %s, 'wf', '*/5 * * * *', 'paused', false) RETURNING id",
        (uuid4(), tenant),
    ).fetchone()
    assert row is not None
    return UUID(str(row[0]))
