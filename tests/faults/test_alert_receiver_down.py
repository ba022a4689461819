"""A webhook receiver that is down for a while still gets every alert afterwards (issue 12).

A real worker sends the outbox to a receiver port where nothing listens (connection refused,
as when the receiver is down); after `DOWNTIME` a receiver comes up on that port, verifying
signatures with the `standardwebhooks` package, and must get every delivery, each one signed
and with its own stable webhook-id. The retry base is short here (SCHEDULER_ALERT_RETRY_BASE_
SECONDS) so the backoff after the downtime stays short: the test waits on conditions only.
"""

from __future__ import annotations

import time
from uuid import UUID

import psycopg
import pytest

from devtools.loopback import free_port
from tests.faults.conftest import Workers, scaled
from tests.support.alerts import (
    deliveries,
    incident_payload,
    insert_channel,
    insert_delivery,
    standard_webhooks_check,
)
from tests.support.target import RecordingTarget

DOWNTIME = scaled(5.0, 60.0)  # seconds the receiver is down: `make test`, `make soak`
SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
DELIVERIES = 20


@pytest.mark.timeout(DOWNTIME + 120)
def test_a_receiver_down_for_a_while_gets_every_delivery_afterwards(
    database_url: str, workers: Workers, figures: object
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with psycopg.connect(database_url, autocommit=True) as db:
        channel = insert_channel(db, "acme", "webhook", url=f"{url}/in", secret=SECRET)
        ids = {insert_delivery(db, channel, incident_payload("acme")) for _ in range(DELIVERIES)}
        workers.start(
            SCHEDULER_TARGET_ALLOWLIST=url,
            SCHEDULER_ALERT_SEND_INTERVAL="0.2",
            SCHEDULER_ALERT_RETRY_BASE_SECONDS="0.5",
        )
        down_until = time.monotonic() + DOWNTIME
        while time.monotonic() < down_until:  # the receiver is down: attempts fail, none lost
            time.sleep(0.2)
        states = deliveries(db)
        assert {s for s, _, _ in states.values()} == {"pending"}, states
        tried = [attempts for _, attempts, _ in states.values()]
        assert min(tried) >= 2, states  # retried while it was down
        assert all("Connect" in str(error) for _, _, error in states.values()), states

        with RecordingTarget(port=port) as receiver:
            receiver.verify_requests(standard_webhooks_check(SECRET))
            came_back = time.monotonic()
            got = receiver.wait_for(
                lambda got: {UUID(r.headers["webhook-id"]) for r in got} >= ids,
                timeout=DOWNTIME + 30,  # the last backoff before it came back, at most
            )
            caught_up = time.monotonic() - came_back
            deadline = time.monotonic() + 10
            while {s for s, _, _ in deliveries(db).values()} != {"delivered"}:
                assert time.monotonic() < deadline, deliveries(db)
                time.sleep(0.05)
        assert all(r.status == 200 for r in got)  # every one verified by standardwebhooks
        figures(  # type: ignore[operator]
            downtime_s=DOWNTIME,
            deliveries=DELIVERIES,
            attempts_while_down=max(tried),
            caught_up_after_s=round(caught_up, 2),
        )
