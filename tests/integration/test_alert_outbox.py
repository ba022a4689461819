"""The outbox claim is a lease (app/services/alert_outbox.py), on the real database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg

from app.api import metrics_text
from app.services import alert_outbox
from app.services.alert_outbox import RetryPolicy
from app.services.metrics import collect
from db.repositories import alert_deliveries
from db.types import Conn
from tests.support.alerts import deliveries, incident_payload, insert_channel, insert_delivery

POLICY = RetryPolicy(base_seconds=10, give_up_after_seconds=86_400)


async def test_a_claim_is_a_lease_and_only_the_current_claim_records(
    conn: Conn, db: psycopg.Connection[Any]
) -> None:
    channel = insert_channel(db, "acme", "webhook", url="http://127.0.0.1:9/in", secret="k" * 20)
    delivery = insert_delivery(db, channel, incident_payload("acme"))

    [first] = await alert_outbox.claim(conn, limit=10, lease_seconds=120)
    assert (first.id, first.attempts, first.kind) == (delivery, 1, "webhook")
    # Leased: no other sender takes it while the first one sends...
    assert await alert_outbox.claim(conn, limit=10, lease_seconds=120) == []
    # ...until the lease runs out (the first sender died, say): then it is claimed again.
    later = first.claimed_at + timedelta(seconds=121)
    [second] = await alert_outbox.claim(conn, limit=10, lease_seconds=120, now=later)
    assert (second.id, second.attempts) == (delivery, 2)

    # The first sender comes back: its claim is stale and changes nothing.
    assert not await alert_outbox.delivered(conn, first)
    assert deliveries(db)[delivery] == ("pending", 2, None)
    decision = await alert_outbox.failed_attempt(
        conn, second, error="HTTP 503: busy", retryable=True, policy=POLICY, now=later
    )
    assert decision.status == "retry"
    assert deliveries(db)[delivery] == ("pending", 2, "HTTP 503: busy")
    row = db.execute("SELECT next_attempt_at FROM alert_deliveries").fetchone()
    assert row is not None
    waited = (row[0] - later).total_seconds()
    assert 2 * 10 * 0.8 <= waited <= 2 * 10 * 1.2  # the backoff of attempt 2


async def test_claims_are_oldest_first_and_bounded(conn: Conn, db: psycopg.Connection[Any]) -> None:
    channel = insert_channel(db, "acme", "email", address="ops@example.com")
    ids = [insert_delivery(db, channel, incident_payload("acme")) for _ in range(5)]
    claimed = await alert_outbox.claim(conn, limit=3, lease_seconds=60)
    assert [d.id for d in claimed] == ids[:3]
    assert [d.id for d in await alert_outbox.claim(conn, limit=3, lease_seconds=60)] == ids[3:]


async def test_metrics_show_the_pending_deliveries_and_how_overdue_they_are(
    conn: Conn, db: psycopg.Connection[Any]
) -> None:
    empty = metrics_text.render(await collect(conn))
    assert "scheduler_alert_deliveries_pending 0\n" in empty
    assert "scheduler_alert_delivery_overdue_seconds 0.000\n" in empty

    channel = insert_channel(db, "acme", "email", address="ops@example.com")
    for _ in range(3):
        insert_delivery(db, channel, incident_payload("acme"))
    row = db.execute("SELECT min(next_attempt_at) FROM alert_deliveries").fetchone()
    assert row is not None
    later = row[0] + timedelta(seconds=30)
    gauges = await alert_deliveries.gauges(conn, cap=2, now=later)
    assert gauges.pending == 2  # the cap
    assert 29.9 <= gauges.overdue_seconds <= 30.1  # nobody sends: the oldest is 30 s late
    await alert_outbox.claim(conn, limit=10, lease_seconds=120, now=later)
    claimed = await alert_deliveries.gauges(conn, cap=10, now=later)
    assert (claimed.pending, claimed.overdue_seconds) == (3, 0.0)  # being sent: not overdue
    text = metrics_text.render(await collect(conn))
    assert "scheduler_alert_deliveries_pending 3\n" in text
