"""A real SMTP server for tests (aiosmtpd) on 127.0.0.1, recording every message it accepts.

    with MailServer(username="alerts", password="pw") as mail:
        ...  # SMTP_URL = mail.url
        mail.wait_for(lambda got: len(got) >= 1, timeout=10)

aiosmtpd's own Controller needs a fixed port; here its SMTP protocol is served from a socket
bound before the thread starts (port 0: a free one, never raced for), on the thread's own loop.
Without a username it offers no AUTH; with one, AUTH PLAIN/LOGIN without TLS (loopback only).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated_as: str | None
    tls: bool


class MailServer:
    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        refuse: frozenset[str] = frozenset(),
        starttls: ssl.SSLContext | None = None,
    ) -> None:
        """`refuse`: recipients answered `550 no such user` (a permanent refusal).
        `starttls`: the server's TLS context; STARTTLS is then offered and required."""
        self._refuse = refuse
        self._starttls = starttls
        self._username = username
        self._password = password
        self._lock = threading.Lock()
        self._mails: list[Mail] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        auth = f"{self._username}:{self._password}@" if self._username else ""
        return f"smtp://{auth}127.0.0.1:{self.port}"

    # --- aiosmtpd's handler hooks ------------------------------------------------------------

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self._refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        with self._lock:
            self._mails.append(
                Mail(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    parsed,
                    login.decode() if login else None,
                    session.ssl is not None,
                )
            )
        return "250 Message accepted"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self._username
            and data.password.decode() == self._password
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    # --- life cycle --------------------------------------------------------------------------

    def start(self) -> MailServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        self._loop = loop
        auth = self._username is not None

        def factory() -> SMTP:
            return SMTP(
                self,
                hostname="mail.test",
                authenticator=self._authenticate if auth else None,
                auth_require_tls=False,
                auth_required=False,  # offered, not required: aiosmtpd warns otherwise
                tls_context=self._starttls,
                require_starttls=self._starttls is not None,
            )

        async def serve() -> None:
            self._server = await loop.create_server(factory, sock=sock)

        self._thread = threading.Thread(target=loop.run_forever, daemon=True, name="smtp")
        self._thread.start()
        # Started from the thread's own loop: the caller may be inside a running loop itself.
        asyncio.run_coroutine_threadsafe(serve(), loop).result(timeout=10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- inspection --------------------------------------------------------------------------

    @property
    def mails(self) -> list[Mail]:
        with self._lock:
            return list(self._mails)

    def wait_for(self, predicate: Callable[[list[Mail]], bool], timeout: float) -> list[Mail]:
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.mails
            if predicate(snapshot):
                return snapshot
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout:g} s: {snapshot}")
            time.sleep(0.01)
