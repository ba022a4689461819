"""The dashboard's session: the API token itself, kept in an HttpOnly cookie.

There is no server-side session table: the cookie holds the token the user pasted, and every
page view and every API call checks it again with `tokens.authenticate`, so revoking the token
(CLI) logs the browser out at its next request. The JSON API accepts the cookie only together
with the `X-Dashboard` header (see `app.api.auth.bearer_token`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.datastructures import Cookie
from litestar.di import NamedDependency

from app.api.auth import SESSION_COOKIE
from app.api.deps import DbConn
from app.errors import Unauthorized
from app.services import tokens

# Long enough not to be a nuisance, short enough that a forgotten browser does not stay logged
# in forever. Revoking the token ends the session at once anyway.
SESSION_MAX_AGE_SECONDS = 7 * 24 * 3600
MAX_TOKEN_CHARS = 500  # real tokens are ~80 characters; anything longer is not one


@dataclass(frozen=True, slots=True)
class Session:
    """Who the cookie belongs to; `tenant` is None when there is no valid cookie."""

    tenant: str | None


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """The outcome of `POST /login`: the pasted token, and its tenant or the reason it failed."""

    token: str
    tenant: str | None
    error: str | None


async def _tenant_of(conn: DbConn, token: str) -> tuple[str | None, str | None]:
    try:
        return await tokens.authenticate(conn, token), None
    except Unauthorized as exc:
        return None, exc.message


async def provide_session(request: Request[Any, Any, Any], conn: DbConn) -> Session:
    """The session of a page request (never raises: a page without one redirects to /login)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token or len(token) > MAX_TOKEN_CHARS:
        return Session(tenant=None)
    tenant, _ = await _tenant_of(conn, token)
    return Session(tenant=tenant)


async def provide_login(request: Request[Any, Any, Any], conn: DbConn) -> LoginAttempt:
    """Check the token posted by the login form."""
    form = await request.form()
    raw = form.get("token", "")
    token = raw.strip() if isinstance(raw, str) else ""
    if not token:
        return LoginAttempt(token="", tenant=None, error="Paste an API token.")
    if len(token) > MAX_TOKEN_CHARS:
        return LoginAttempt(token="", tenant=None, error="That is not an API token.")
    tenant, error = await _tenant_of(conn, token)
    if tenant is None:
        # `authenticate` says the same thing for every bad token, except a revoked one.
        error = "This token is not valid." if error == Unauthorized().message else error
    return LoginAttempt(token=token, tenant=tenant, error=error)


CurrentSession = NamedDependency[Session]
Login = NamedDependency[LoginAttempt]


class SignedOut(Exception):
    """A page that needs a session was asked for without a valid one (the dashboard's router
    answers it with a redirect to /login)."""


async def provide_signed_in(session: CurrentSession) -> str:
    """The tenant of a page that needs a session; raises `SignedOut` without one."""
    if session.tenant is None:
        raise SignedOut
    return session.tenant


SignedIn = NamedDependency[str]


def same_origin(request: Request[Any, Any, Any]) -> bool:
    """False for a form posted from another site (login CSRF): its Origin names another host.

    Browsers send `Origin` on every POST; a request without one comes from a script or curl,
    which cannot ride on a victim's cookies, so it is let through.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cookie_must_be_secure(request: Request[Any, Any, Any]) -> bool:
    """Whether the session cookie gets `Secure`: always, except on plain HTTP between loopback
    addresses (a browser on the API's own machine, as with `make up`).

    The cookie is the API token, so it must never travel in clear text. `https` is what uvicorn
    saw, or what a proxy listed in FORWARDED_ALLOW_IPS said in X-Forwarded-Proto; a request
    that arrived by plain HTTP from elsewhere, or that names a host other than a loopback one
    (a proxy that does not send X-Forwarded-Proto, or is not trusted), gets `Secure` as well:
    such a browser reached the API over HTTPS, or should have. Only a loopback client naming a
    loopback host may be a developer's plain-HTTP browser, which some browsers would refuse a
    Secure cookie from; nothing on the network can read that connection.
    """
    if request.url.scheme == "https":
        return True
    client = request.client.host if request.client else ""
    return not (_is_loopback(client) and _is_loopback(request.url.hostname or ""))


def session_cookie(token: str, *, secure: bool) -> Cookie:
    """The session cookie: unreadable by scripts, never sent on cross-site requests."""
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        path="/",
        max_age=SESSION_MAX_AGE_SECONDS,
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def cleared_cookie(*, secure: bool) -> Cookie:
    """The same cookie, expired: the browser drops it."""
    return Cookie(
        key=SESSION_COOKIE,
        value="",
        path="/",
        max_age=0,
        expires=0,
        httponly=True,
        samesite="strict",
        secure=secure,
    )
