"""What the sender does with answers that are not a success: an AlertSender in this process,
real receivers, the real database; time moves by passing `now` to its passes, not by sleeping."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

from app.settings import Settings
from db.pool import create_pool
from db.types import Pool
from tests.support.alerts import deliveries, incident_payload, insert_channel, insert_delivery
from tests.support.mail_server import Mail, MailServer
from tests.support.target import RecordingTarget, Response
from worker.alerts import AlertSender
from worker.http.target import HttpTarget

Db = psycopg.Connection[tuple[object, ...]]
SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


@pytest.fixture
def receiver() -> Iterator[RecordingTarget]:
    with RecordingTarget() as target:
        yield target


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    pool = create_pool(database_url, min_size=1, max_size=2, name="test-alerts")
    await pool.open()
    yield pool
    await pool.close()


def sender(pool: Pool, target: HttpTarget, **settings: object) -> AlertSender:
    return AlertSender(pool, target, Settings(**settings))  # type: ignore[arg-type]


def db_now(db: Db) -> datetime:
    row = db.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None and isinstance(row[0], datetime)
    return row[0]


async def test_a_retryable_answer_is_tried_again_with_the_same_webhook_id(
    db: Db, pool: Pool, receiver: RecordingTarget
) -> None:
    channel = insert_channel(db, "acme", "webhook", url=f"{receiver.url}/in", secret=SECRET)
    delivery = insert_delivery(db, channel, incident_payload("acme"))
    receiver.script("", [Response(503), Response(200)])
    target = HttpTarget()
    alerts = sender(pool, target, scheduler_target_allowlist=receiver.url)
    try:
        first = await alerts.run_once(None)
        assert (first.claimed, first.retried) == (1, 1)
        status, attempts, error = deliveries(db)[delivery]
        assert (status, attempts) == ("pending", 1) and error and error.startswith("HTTP 503")
        assert (await alerts.run_once(None)).claimed == 0  # not due before its backoff
        later = db_now(db) + timedelta(minutes=1)
        second = await alerts.run_once(later)
        assert (second.claimed, second.delivered) == (1, 1)
    finally:
        await target.aclose()
    assert deliveries(db)[delivery] == ("delivered", 2, None)
    ids = [r.headers["webhook-id"] for r in receiver.requests()]
    assert ids == [str(delivery), str(delivery)]


async def test_permanent_failures_are_failed_at_once(
    db: Db, pool: Pool, receiver: RecordingTarget
) -> None:
    refused = insert_channel(db, "acme", "webhook", url=f"{receiver.url}/in", secret=SECRET)
    outside = insert_channel(db, "acme", "slack", url="http://127.0.0.1:9/hooks")
    gone = insert_delivery(db, refused, incident_payload("acme"))
    forbidden = insert_delivery(db, outside, incident_payload("acme"))
    receiver.script("", [Response(404)])
    target = HttpTarget()
    alerts = sender(pool, target, scheduler_target_allowlist=receiver.url)
    try:
        result = await alerts.run_once(None)
    finally:
        await target.aclose()
    assert (result.claimed, result.failed) == (2, 2)
    states = deliveries(db)
    assert states[gone][:2] == ("failed", 1) and str(states[gone][2]).startswith("HTTP 404")
    # The allowlist is checked again when sending: this URL was never sent to.
    assert states[forbidden] == (
        "failed",
        1,
        "url: not allowed: it does not match any prefix in SCHEDULER_TARGET_ALLOWLIST",
    )
    assert len(receiver.requests()) == 1


async def test_mail_refusals_and_a_missing_smtp_url(db: Db, pool: Pool) -> None:
    nobody = insert_channel(db, "acme", "email", address="nobody@example.com")
    ops = insert_channel(db, "acme", "email", address="ops@example.com")
    refused = insert_delivery(db, nobody, incident_payload("acme"))
    waiting = insert_delivery(db, ops, incident_payload("acme"))
    target = HttpTarget()
    try:
        unset = await sender(pool, target).run_once(None)  # SMTP_URL not set: retried later
        assert (unset.claimed, unset.retried) == (2, 2)
        assert (
            deliveries(db)[waiting][2]
            == "SMTP_URL is not set on the workers: e-mail cannot be sent"
        )
        with MailServer(refuse=frozenset({"nobody@example.com"})) as mail:
            alerts = sender(pool, target, smtp_url=mail.url)
            result = await alerts.run_once(db_now(db) + timedelta(minutes=5))
            assert (result.delivered, result.failed) == (1, 1)
            assert [m.rcpt_tos for m in mail.mails] == [["ops@example.com"]]
    finally:
        await target.aclose()
    assert deliveries(db)[refused] == ("failed", 2, "recipient refused: SMTP 550")
    assert deliveries(db)[waiting] == ("delivered", 2, None)


async def test_a_delivery_gives_up_after_its_bound(
    db: Db, pool: Pool, receiver: RecordingTarget
) -> None:
    channel = insert_channel(db, "acme", "webhook", url=f"{receiver.url}/in", secret=SECRET)
    delivery = insert_delivery(db, channel, incident_payload("acme"))
    receiver.script("", [Response(500)] * 3)
    target = HttpTarget()
    alerts = sender(
        pool,
        target,
        scheduler_target_allowlist=receiver.url,
        scheduler_alert_retry_base_seconds=60,
        scheduler_alert_give_up_seconds=150,
    )
    try:
        start = db_now(db)
        await alerts.run_once(None)  # next attempt ~60 s later
        await alerts.run_once(start + timedelta(seconds=80))  # then ~120 s: past the bound
    finally:
        await target.aclose()
    status, attempts, error = deliveries(db)[delivery]
    assert (status, attempts) == ("failed", 2)
    assert str(error).startswith("gave up after 2 attempts over 150 s; last error: HTTP 500")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), and its key."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


async def mail_through_starttls(
    db: Db, pool: Pool, server_tls: ssl.SSLContext
) -> tuple[UUID, list[Mail]]:
    """One e-mail delivery, one pass of a sender, a server that requires STARTTLS; returns the
    delivery's id and what the server received."""
    channel = insert_channel(db, "acme", "email", address="ops@example.com")
    delivery = insert_delivery(db, channel, incident_payload("acme"))
    target = HttpTarget()
    with MailServer(username="alerts", password="s3cret-pw", starttls=server_tls) as mail:
        try:
            await sender(pool, target, smtp_url=mail.url).run_once(None)
        finally:
            await target.aclose()
        return delivery, mail.mails


async def test_mail_goes_over_starttls_when_the_server_offers_it(
    db: Db,
    pool: Pool,
    certificate: tuple[Path, Path],
    server_tls: ssl.SSLContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The sender checks certificates against the system's store: this test's CA is added the
    # way an operator would add a private CA, through SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    delivery, [got] = await mail_through_starttls(db, pool, server_tls)
    assert got.tls and got.authenticated_as == "alerts"  # STARTTLS before AUTH and the mail
    assert deliveries(db)[delivery] == ("delivered", 1, None)


async def test_an_untrusted_certificate_is_not_sent_to(
    db: Db, pool: Pool, server_tls: ssl.SSLContext
) -> None:
    delivery, got = await mail_through_starttls(db, pool, server_tls)
    assert got == []
    status, _, error = deliveries(db)[delivery]
    assert status == "pending" and "CERTIFICATE_VERIFY_FAILED" in str(error)  # retried later
    assert "s3cret-pw" not in str(error)
