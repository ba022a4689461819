"""SSRF, the policy alone: which target URLs `url_allowed` refuses and admits, as a table
(no database, no process). test_ssrf.py drives the same tables through the API and a worker."""

from __future__ import annotations

import pytest

from app.domain.target_urls import url_allowed
from tests.security.conftest import (
    ALLOWED_PREFIX,
    LOOPBACK_PREFIX,
)

REFUSED_TARGETS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.169.254:80/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata/",
    "http://100.100.100.200/latest/meta-data/",  # Alibaba's metadata address
    "http://127.0.0.1/",
    "http://127.0.0.1:9/",  # the allowlisted port, but not its path
    "http://127.1:9/allowed",
    "http://2130706433:9/allowed",
    "http://0x7f000001:9/allowed",
    "http://0.0.0.0:9/allowed",
    "http://localhost:9/allowed",
    "http://[::1]:9/allowed",
    "http://[::ffff:127.0.0.1]:9/allowed",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:9/allowed",
    "ftp://allowed.example.com/hooks",
    "dict://127.0.0.1:11211/",
    "https://allowed.example.com@evil.net/hooks",
    "https://user:pass@allowed.example.com/hooks",
    "https://:@allowed.example.com/hooks",
    "https://evil.net\\@allowed.example.com/hooks",
    "https://allowed.example.com\\@evil.net/hooks",
    "https://allowed.example.com.evil.net/hooks",
    "https://allowed.example.com/hooksx",
    "https://allowed.example.com/hooks/../admin",
    "https://allowed.example.com/hooks/%2e%2e/admin",
    "https://allowed.example.com/hooks/%2E%2E%2Fadmin",
    "https://allowed.example.com/hooks/..%5cadmin",
    "https://allowed.example.com/hooks/a\tb",
    "https://allowed.example.com/hooks/a b",
    "https://allowed.example.com\t.evil.net/hooks",
    "https://allowed.example.com:8443/hooks",
    "https://allowed.example.com:99999/hooks",
    "https://allowed.example.com:abc/hooks",
    "https://[allowed.example.com]/hooks",
    "http://allowed.example.com/hooks",  # https only, as listed
    "https://allowed.example.com./hooks",
    "//allowed.example.com/hooks",
    "allowed.example.com/hooks",
    "",
]
ALLOWED_TARGETS = [
    f"{ALLOWED_PREFIX}",
    f"{ALLOWED_PREFIX}/",
    f"{ALLOWED_PREFIX}/run?x=1",
    "https://ALLOWED.example.com/hooks/run",
    "https://allowed.example.com:443/hooks/run",
    f"{LOOPBACK_PREFIX}/x",  # loopback, because the operator listed it
]
ALLOWLIST = (LOOPBACK_PREFIX, ALLOWED_PREFIX)


@pytest.mark.parametrize("url", REFUSED_TARGETS)
def test_url_policy_refuses(url: str) -> None:
    assert url_allowed(url, ALLOWLIST) is False
    assert url_allowed(url, ()) is False


@pytest.mark.parametrize("url", ALLOWED_TARGETS)
def test_url_policy_admits_only_what_is_listed(url: str) -> None:
    assert url_allowed(url, ALLOWLIST) is True
    assert url_allowed(url, ()) is False
