"""Sends one e-mail through SMTP_URL: the I/O edge of e-mail channels.

smtplib in a thread rather than aiosmtplib: alert mail is rare (a few per incident), one
blocking send in the default executor costs nothing worth a runtime dependency, and smtplib's
STARTTLS and AUTH are the standard library's, maintained with Python.

Contract: `send_mail` connects, upgrades with STARTTLS whenever the server offers it (with the
system's certificate checks), logs in when SMTP_URL has a user, sends, and quits, all within
`timeout_seconds` per socket operation. It raises `MailRefused` for an answer no retry can change
(the server refused the sender, a recipient or the message with a 5xx), and `smtplib` or
`OSError` exceptions for everything worth another attempt.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from app.domain.alerts import SmtpServer


class MailRefused(Exception):
    """The mail server refused the message for good (a 5xx answer)."""


def send_mail(server: SmtpServer, message: EmailMessage, timeout_seconds: float) -> None:
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if server.tls:
        client = smtplib.SMTP_SSL(
            server.host, server.port, timeout=timeout_seconds, context=context
        )
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=timeout_seconds)
    with client:
        client.ehlo()
        if not server.tls and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        if server.username:
            client.login(server.username, server.password or "")
        try:
            client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise MailRefused(f"recipient refused: SMTP {codes[0]}") from None
            raise
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            if exc.smtp_code >= 500:
                error = exc.smtp_error
                text = error.decode(errors="replace") if isinstance(error, bytes) else error
                reason = text[:300]
                raise MailRefused(f"SMTP {exc.smtp_code}: {reason}") from None
            raise
