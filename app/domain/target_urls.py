"""Which target URLs a schedule or an alert channel may name: the SSRF policy of
SCHEDULER_TARGET_ALLOWLIST (docs/security.md). Pure: parsing and comparison, no I/O."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _parts(url: str) -> tuple[str, str, int, str] | None:
    """(scheme, host, port, path) of an http(s) URL a client would send as written; None for
    anything ambiguous: other schemes, userinfo, control characters, white space or backslashes
    (parsers disagree about those), a bad port, dot segments (`..`, `%2e%2e`: HTTP clients
    resolve them, so `/hooks/../admin` is really `/admin`), or an encoded `/` or `\\`."""
    if not url.isprintable() or any(c.isspace() or c == "\\" for c in url):
        return None
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme, parts.hostname, parts.port
    except ValueError:  # a port that is not a number or out of range, a bad [IPv6] literal
        return None
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    path = parts.path
    lowered = path.lower()
    if "%2f" in lowered or "%5c" in lowered:
        return None
    if any(unquote(segment) in (".", "..") for segment in path.split("/")):
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme], path


def url_allowed(url: str, allowlist: tuple[str, ...]) -> bool:
    """Whether `url` falls under one of the allowlist's URL prefixes. Never raises.

    Compared by parts, not as strings: scheme, host and port (80/443 when not written) must be
    equal and the path must be the prefix's path or below it, so `https://api.example.com` does
    not admit `https://api.example.com.evil.net/`, `https://api.example.com@evil.net/`, nor
    `https://api.example.com/hooks/../admin` under the prefix `https://api.example.com/hooks`.
    Everything that is not on the list is refused: loopback, private and link-local addresses
    and cloud metadata hosts are reachable only when the operator lists them (SSRF,
    docs/security.md). Malformed URLs and allowlist entries match nothing.
    """
    target = _parts(url)
    if target is None:
        return False
    for entry in allowlist:
        allowed = _parts(entry)
        if allowed is None or allowed[:3] != target[:3]:
            continue
        prefix, path = allowed[3].rstrip("/"), target[3]
        if not prefix or path == prefix or path.startswith(prefix + "/"):
            return True
    return False


def allowlist_refusal(url: str, allowlist: tuple[str, ...]) -> str | None:
    """Why `url` is refused under SCHEDULER_TARGET_ALLOWLIST (a sentence that says what to
    change), or None when `url_allowed` admits it."""
    if url_allowed(url, allowlist):
        return None
    if not allowlist:
        return "not allowed: SCHEDULER_TARGET_ALLOWLIST is empty, so no outbound URL is allowed"
    return "not allowed: it does not match any prefix in SCHEDULER_TARGET_ALLOWLIST"
