"""API tokens: only their hash is stored, checks compare in constant time, and a revocation
holds from the next request (docs/security.md)."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.security.conftest import (
    error_body,
    find_in_database,
)
from tests.support.server import make_token

ROOT = Path(__file__).resolve().parents[2]


def test_tokens_are_stored_as_hashes_only(database_url: str, db: psycopg.Connection[Any]) -> None:
    token = make_token(database_url, "acme", "hash check")
    token_id, secret = uuid.UUID(hex=token[4:36]), token[36:]
    row = db.execute("SELECT * FROM api_tokens WHERE id = %s", (token_id,)).fetchone()
    assert row is not None
    columns = [d.name for d in db.execute("SELECT * FROM api_tokens LIMIT 0").description or []]
    assert set(columns) == {
        "id",
        "tenant",
        "name",
        "secret_sha256",
        "created_at",
        "revoked_at",
        "last_used_at",
    }, columns  # fmt: skip - a new column must be looked at here
    stored = dict(zip(columns, row, strict=True))
    assert bytes(stored["secret_sha256"]) == hashlib.sha256(secret.encode()).digest()
    assert find_in_database(db, [token, secret, secret[:16]]) == []


def _function(path: Path, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    raise AssertionError(f"no function {name} in {path}")


def _calls(node: ast.AST) -> set[str]:
    return {ast.unparse(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}


def test_token_and_signature_checks_compare_in_constant_time() -> None:
    """Structural, not a timing measurement: the secret's digest is compared with
    `hmac.compare_digest` and never with `==`; the row is found by the token's id (not by its
    secret), and an unknown id still costs a digest comparison."""
    authenticate = _function(ROOT / "app/services/tokens.py", "authenticate")
    assert "hmac.compare_digest" in _calls(authenticate)
    for compare in (n for n in ast.walk(authenticate) if isinstance(n, ast.Compare)):
        text = ast.unparse(compare)
        if any(isinstance(op, ast.Eq | ast.NotEq) for op in compare.ops):
            assert not re.search(r"secret|digest|expected|sha256", text), text
    source = ast.unparse(authenticate)
    assert "repo.get(conn, token_id)" in source  # looked up by id
    assert "_digest('')" in source  # a dummy comparison for unknown ids
    tokens_sql = (ROOT / "db/queries/tokens.sql").read_text()
    assert "WHERE id = %(id)s" in tokens_sql and "secret_sha256 =" not in tokens_sql
    verify = _function(ROOT / "app/domain/webhook.py", "verify_signature")
    assert "hmac.compare_digest" in _calls(verify)


def test_revocation_is_effective_on_the_next_request(
    client: httpx.Client, api_url: str, database_url: str
) -> None:
    token = client.headers["authorization"].removeprefix("Bearer ")
    assert client.get("/api/schedules").status_code == 200
    with httpx.Client(cookies={"wfs_session": token}, timeout=10) as browser:
        assert browser.get(f"{api_url}/", follow_redirects=False).status_code == 200
    token_id = str(uuid.UUID(hex=token[4:36]))
    revoked = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "revoke", token_id],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert revoked.returncode == 0, revoked.stderr
    assert token not in revoked.stdout + revoked.stderr
    answer = error_body(client.get("/api/schedules"), 401)
    assert "revoked" in answer["message"] and token not in json.dumps(answer)
    with httpx.Client(cookies={"wfs_session": token}, timeout=10) as browser:
        page = browser.get(f"{api_url}/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
