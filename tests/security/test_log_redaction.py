"""L2: the log filter redacts exception texts and tracebacks, not only messages: an exception
that quotes a secret or a token (a driver error echoing a parameter, a target's answer) is
logged with `[redacted]` in its place, in both log formats."""

from __future__ import annotations

import json
import logging

import pytest

from app.logging import configure_logging
from tests.security.conftest import SECRET, security_settings

TOKEN = "wfs_" + "0123456789abcdef" * 2 + "Sup3rSecretPart_of-the-token"


def _fail_with_secrets() -> None:
    try:
        raise OSError(f"connect failed: password={SECRET}")
    except OSError as cause:
        raise RuntimeError(
            f"request failed with Authorization: Bearer {TOKEN}; key {SECRET}"
        ) from cause


@pytest.mark.parametrize("log_format", ["json", "console"])
@pytest.mark.usefixtures("restore_root_logger")
def test_exceptions_and_extras_are_redacted(
    capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    configure_logging(security_settings("postgresql://unused/db", log_format=log_format))
    log = logging.getLogger("app.test")
    try:
        _fail_with_secrets()
    except RuntimeError as exc:
        log.exception("batch failed", extra={"event": "test.failed", "error": exc})
        log.error(
            "unhandled",
            exc_info=exc,
            extra={"event": "test.unhandled", "details": {"url": f"https://x/?k={SECRET}"}},
        )
    log.warning("with stack", stack_info=True, extra={"event": "test.stack", "ids": [TOKEN]})
    output = capsys.readouterr().err
    assert SECRET not in output and SECRET[:12] not in output, output
    assert "Sup3rSecretPart" not in output, output
    # Redacted, not dropped: the traceback and both exceptions are still there to debug with.
    assert output.count("Traceback (most recent call last)") >= 4, output
    assert "RuntimeError: request failed with Authorization: Bearer [redacted]" in output
    assert "OSError: connect failed: password=[redacted]" in output
    if log_format == "json":
        records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert [r["event"] for r in records] == ["test.failed", "test.unhandled", "test.stack"]
        assert all("exception" in r for r in records[:2]) and "stack" in records[2]
        assert records[1]["details"] == {"url": "https://x/?k=[redacted]"}
