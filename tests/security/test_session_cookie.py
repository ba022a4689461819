"""M6: the session cookie (it is the API token) is `Secure` unless the browser talks plain HTTP
to the API on the same machine; behind a TLS proxy it is `Secure` whether or not the proxy is
trusted, and a proxy listed in FORWARDED_ALLOW_IPS has its X-Forwarded-Proto believed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.errors import ConfigError
from app.settings import Settings, load_settings
from tests.security.conftest import security_settings
from tests.support.server import make_token, running_api


def _cookie_flags(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 303, (answer.status_code, answer.text[:300])
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("wfs_session=")
    return [part.strip().lower() for part in cookie.split(";")[1:]]


def _login_and_logout(
    api_url: str, token: str, headers: dict[str, str], local_address: str | None = None
) -> tuple[list[str], list[str]]:
    transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
    with httpx.Client(base_url=api_url, timeout=10, transport=transport) as http:
        login = http.post("/login", data={"token": token}, headers=headers)
        logout = http.post("/logout", headers=headers)
    return _cookie_flags(login), _cookie_flags(logout)


@pytest.fixture
def proxied_settings(database_url: str) -> Settings:
    # 127.0.0.2 plays a proxy on another address: loopback, so the test can reach it, but not
    # 127.0.0.1, the only IPv4 address uvicorn trusts by default.
    return security_settings(database_url, forwarded_allow_ips="127.0.0.2")


@pytest.fixture
def token(database_url: str) -> str:
    return make_token(database_url, "acme")


@pytest.fixture
def api_url(proxied_settings: Settings) -> Iterator[str]:
    with running_api(proxied_settings) as url:
        yield url


def test_plain_http_on_the_same_machine_is_not_secure(api_url: str, token: str) -> None:
    """`make up`: a browser on http://127.0.0.1 (some browsers refuse Secure cookies there)."""
    for flags in _login_and_logout(api_url, token, {}):
        assert "secure" not in flags and "httponly" in flags and "samesite=strict" in flags


def test_behind_an_untrusted_proxy_the_cookie_is_secure(api_url: str, token: str) -> None:
    """The review's case: the proxy is not trusted, its X-Forwarded-Proto is ignored, the API
    sees plain HTTP; the cookie is Secure all the same (it names a public host)."""
    headers = {"Host": "scheduler.example.com", "X-Forwarded-Proto": "https"}
    for flags in _login_and_logout(api_url, token, headers):
        assert "secure" in flags, flags
    # From another address too, whatever Host it sends.
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    for flags in _login_and_logout(api_url, token, headers, local_address="127.0.0.3"):
        assert "secure" not in flags  # 127.0.0.3 is loopback itself: the same-machine case
    headers["Host"] = "scheduler.example.com"
    for flags in _login_and_logout(api_url, token, headers, local_address="127.0.0.3"):
        assert "secure" in flags, flags


def test_a_trusted_proxy_is_believed(api_url: str, token: str) -> None:
    """From the address in FORWARDED_ALLOW_IPS, X-Forwarded-Proto: https makes the request
    https, even with a loopback Host (a proxy that rewrites Host); from 127.0.0.3, untrusted,
    the same request was not (above)."""
    headers = {"X-Forwarded-Proto": "https"}
    for flags in _login_and_logout(api_url, token, headers, local_address="127.0.0.2"):
        assert "secure" in flags, flags


def test_a_mistyped_proxy_address_stops_start_up() -> None:
    """A typo would otherwise make uvicorn trust nobody, silently: every request through the
    proxy would look like plain HTTP."""
    assert load_settings(forwarded_allow_ips="10.0.0.0/8, 192.0.2.1,::1,*")
    with pytest.raises(ConfigError, match=r"FORWARDED_ALLOW_IPS: .*'10\.0\.0\.300'"):
        load_settings(forwarded_allow_ips="10.0.0.1,10.0.0.300")
