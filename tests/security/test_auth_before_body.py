"""H4: the API authenticates a request before it receives or decodes its body.

Litestar decodes the body before it resolves dependencies (the token check among them), so an
anonymous client could make the API read 1 MiB and walk ~350,000 JSON containers in Python for
a 401. Each test below shows the order without timing anything: a body the API never receives
still gets its 401, and bodies that would be refused as unparseable (400) or of the wrong type
(415) get the 401 instead, because nobody parsed them.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest

NESTED_1MIB = b"[" + b"[]," * 349_000 + b"[]]"  # ~1 MiB, ~350,000 containers
TOO_DEEP = b"[" * 100 + b"]" * 100
JSON = {"Content-Type": "application/json"}


def _head_only(api_url: str, extra_header: str = "") -> bytes:
    """POST the head of a 1 MiB JSON request and 2 bytes of its body, then wait for an answer
    (a server that reads bodies first waits for the rest and never answers)."""
    parts = urlsplit(api_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/schedules HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
            + extra_header.encode()
            + b"Content-Length: 1048576\r\n\r\n[["
        )
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)  # socket timeout: the deadline of this wait
            if not chunk:
                break
            received += chunk
        return received


@pytest.mark.parametrize("authorization", ["", "Authorization: Bearer wfs_nope\r\n"])
def test_anonymous_request_is_refused_before_its_body_arrives(
    shared_api_url: str, authorization: str
) -> None:
    answer = _head_only(shared_api_url, authorization)
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert b"www-authenticate: bearer" in answer.lower()


def test_anonymous_bodies_are_not_parsed(shared_api_url: str) -> None:
    bodies = [
        (NESTED_1MIB, JSON),  # the review's case
        (TOO_DEEP, JSON),  # would be 400 "nested deeper than 64 levels" if decoded
        (b'{"workflowId": ', JSON),  # would be 400 "not JSON" if decoded
        (b"\xff\xfe", JSON),  # would be 400 "not UTF-8"
        (b"workflowId=wf", {"Content-Type": "application/x-www-form-urlencoded"}),  # 415
    ]
    with httpx.Client(base_url=shared_api_url, timeout=10) as anonymous:
        for body, headers in bodies:
            for path in ("/api/schedules", "/api/schedules/preview", "/api/scheduler/register"):
                answer = anonymous.post(path, content=body, headers=headers)
                assert answer.status_code == 401, (path, body[:20], answer.text[:200])
                assert answer.json()["error"] == "unauthorized"


def test_authenticated_bodies_are_still_checked(shared_client: httpx.Client) -> None:
    """With a valid token the body checks run as before: too deep or malformed is 400, another
    type is 415, a good body is created (the hook's tenant is the one the handler uses)."""
    deep = shared_client.post("/api/schedules", content=TOO_DEEP, headers=JSON)
    assert deep.status_code == 400 and "nested deeper than 64" in deep.json()["message"]
    broken = shared_client.post("/api/schedules", content=b'{"a": ', headers=JSON)
    assert broken.status_code == 400 and broken.json()["message"].startswith("body:")
    form = shared_client.post(
        "/api/schedules", content=b"a=b", headers={"Content-Type": "text/plain"}
    )
    assert form.status_code == 415
    created = shared_client.post(
        "/api/schedules", json={"workflowId": "h4", "cronExpression": "0 6 * * *"}
    )
    assert created.status_code == 201, created.text
    listed = shared_client.get("/api/schedules", params={"workflowId": "h4"}).json()["items"]
    assert [s["id"] for s in listed] == [created.json()["id"]]


def test_the_anonymous_login_form_is_small(shared_api_url: str) -> None:
    """The one anonymous write, the dashboard's login form, takes 16 KiB, not 1 MiB."""
    with httpx.Client(base_url=shared_api_url, timeout=10) as anonymous:
        big = anonymous.post("/login", data={"token": "x" * 512 * 1024})  # < 1 MiB
        assert big.status_code == 413, big.text[:200]
        small = anonymous.post("/login", data={"token": "wfs_nope"})
        assert small.status_code == 401 and "not valid" in small.text
