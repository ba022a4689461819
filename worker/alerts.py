"""The alert sender: a supervised loop in every worker that empties the outbox (issue 12).

Each pass claims due deliveries (app/services/alert_outbox.py: a short transaction that leases
them), sends them side by side with no transaction open, and records each one: delivered,
another attempt after a backoff, or failed for good. Several workers run it at once; SKIP
LOCKED gives each its own rows. A pass that claimed a full batch is followed at once by the
next, otherwise the loop waits `SCHEDULER_ALERT_SEND_INTERVAL`.

- webhook: the payload, signed with the channel's secret (Standard Webhooks; `webhook-id` is
  the delivery's id on every attempt), POSTed with the worker's HTTP client;
- slack: Slack's incoming-webhook JSON (`text` and `blocks`), POSTed the same way;
- email: a mail through SMTP_URL, from SMTP_FROM (worker/smtp.py).

Outbound URLs are checked against SCHEDULER_TARGET_ALLOWLIST again at every attempt: the list
may have shrunk since the channel was created. Error texts never hold the channel's secret or
URL (a Slack URL is a credential).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from app.domain.alerts import (
    ClaimedDelivery,
    email_message,
    parse_smtp_url,
    shown_url,
    slack_request,
    webhook_request,
)
from app.domain.outcome import MAX_ERROR_BYTES
from app.domain.target_urls import allowlist_refusal
from app.services import alert_outbox
from app.services.alert_outbox import RetryPolicy
from app.settings import Settings
from db.types import Pool
from worker.http.target import HttpTarget
from worker.service import Service, ServiceConfig
from worker.smtp import MailRefused, send_mail

log = logging.getLogger("worker.alerts")

BATCH = 50
HTTP_TIMEOUT_SECONDS = 10.0
SMTP_TIMEOUT_SECONDS = 10.0  # per socket operation: connect, EHLO, STARTTLS, AUTH, MAIL, DATA…
LEASE_SECONDS = 120.0
"""Longer than a send normally takes (the timeouts above), so a claim is taken over after its
sender died, not while it works. Honestly bounded only for HTTP: a mail server that stalls on
every step, with many mails queued for the executor's threads, can make a mail outlive its
lease; it is then sent twice, with the same Message-ID (at least once, never lost)."""


@dataclass(frozen=True, slots=True)
class Sent:
    """What one attempt came to: `delivered`, or an error and whether to try again."""

    delivered: bool
    error: str | None = None
    retryable: bool = True


@dataclass(frozen=True, slots=True)
class SendResult:
    claimed: int
    delivered: int
    retried: int
    failed: int


class AlertSender(Service[SendResult]):
    def __init__(
        self,
        pool: Pool,
        target: HttpTarget,
        settings: Settings,
        *,
        stale_floor: float = 30.0,
    ) -> None:
        super().__init__(
            ServiceConfig(
                "alerts.send",
                period=settings.scheduler_alert_send_interval,
                jitter=0.2,
                max_backoff=10.0,
                stale_floor=stale_floor,
            )
        )
        self.pool = pool
        self.target = target
        self.allowlist = settings.target_allowlist
        smtp_url = settings.smtp_url.get_secret_value()
        self.smtp = parse_smtp_url(smtp_url) if smtp_url else None
        self.smtp_from = settings.smtp_from
        self.policy = RetryPolicy(
            base_seconds=settings.scheduler_alert_retry_base_seconds,
            give_up_after_seconds=settings.scheduler_alert_give_up_seconds,
        )

    def pause_after(self, result: SendResult) -> float:
        return 0.0 if result.claimed >= BATCH else super().pause_after(result)

    async def run_once(self, now: datetime | None) -> SendResult:
        async with self.pool.connection() as conn:
            claimed = await alert_outbox.claim(
                conn, limit=BATCH, lease_seconds=LEASE_SECONDS, now=now
            )
        if not claimed:
            return SendResult(0, 0, 0, 0)
        results = await asyncio.gather(*(self.send(d) for d in claimed))
        delivered = retried = failed = 0
        async with self.pool.connection() as conn:
            for delivery, sent in zip(claimed, results, strict=True):
                if sent.delivered:
                    await alert_outbox.delivered(conn, delivery, now)
                    delivered += 1
                    continue
                decision = await alert_outbox.failed_attempt(
                    conn,
                    delivery,
                    error=sent.error or "unknown error",
                    retryable=sent.retryable,
                    policy=self.policy,
                    now=now,
                )
                retried += decision.status == "retry"
                failed += decision.status == "failed"
                log.log(
                    logging.WARNING if decision.status == "failed" else logging.INFO,
                    "alert delivery %s",
                    "failed" if decision.status == "failed" else "will be retried",
                    extra={
                        "event": f"alerts.{decision.status}",
                        "delivery_id": str(delivery.id),
                        "channel_id": str(delivery.channel_id),
                        "attempts": delivery.attempts,
                        "error": decision.error,
                    },
                )
        return SendResult(len(claimed), delivered, retried, failed)

    async def send(self, delivery: ClaimedDelivery) -> Sent:
        """One attempt; never raises for a delivery problem (only cancellation propagates)."""
        try:
            if delivery.kind == "email":
                return await self._send_mail(delivery)
            return await self._post(delivery)
        except Exception as exc:  # a bug or a surprise: this delivery retries, the others go on
            log.exception(
                "alert delivery raised",
                extra={"event": "alerts.send_error", "delivery_id": str(delivery.id)},
            )
            return Sent(False, f"{type(exc).__name__} while sending")

    async def _post(self, delivery: ClaimedDelivery) -> Sent:
        url = delivery.url or ""
        refusal = allowlist_refusal(url, self.allowlist)
        if refusal:
            return Sent(False, f"url: {refusal}", retryable=False)
        if delivery.kind == "webhook":
            request = webhook_request(
                url,
                delivery.secret or "",
                str(delivery.id),
                # The claim's instant on the database clock: receivers compare it with theirs.
                int(delivery.claimed_at.timestamp()),
                delivery.payload,
            )
        else:
            request = slack_request(url, delivery.payload)
        outcome = await self.target.send(request, HTTP_TIMEOUT_SECONDS)
        if outcome.kind in ("succeeded", "accepted"):
            return Sent(True)
        error = outcome.error or ""
        shown = shown_url(delivery.kind, url)
        if shown != url:  # a Slack URL is a credential: never in last_error or the logs
            error = error.replace(url, shown or "")
        return Sent(False, error, retryable=outcome.kind == "retry")

    async def _send_mail(self, delivery: ClaimedDelivery) -> Sent:
        if self.smtp is None:
            return Sent(False, "SMTP_URL is not set on the workers: e-mail cannot be sent")
        message = email_message(
            delivery.payload,
            sender=self.smtp_from,
            recipient=delivery.address or "",
            delivery_id=str(delivery.id),
        )
        try:
            await asyncio.to_thread(send_mail, self.smtp, message, SMTP_TIMEOUT_SECONDS)
        except MailRefused as exc:
            return Sent(False, str(exc)[:MAX_ERROR_BYTES], retryable=False)
        except (OSError, TimeoutError) as exc:  # smtplib's errors are OSErrors too
            text = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_BYTES]
            return Sent(False, text)
        return Sent(True)
