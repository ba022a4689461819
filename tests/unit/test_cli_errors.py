"""The CLI's error report: the message, then the chain of causes, never a secret."""

from __future__ import annotations

import pytest

from app.cli import error_report, main
from app.errors import ValidationFailed

TOKEN = "wfs_" + "0" * 32 + "abcdefgh"


def _chained() -> ValidationFailed:
    try:
        try:
            raise ValueError(f"token {TOKEN} refused\nsecond line not shown")
        except ValueError as inner:
            raise OSError(
                "POST https://x.example with Bearer abc.def failed: s3cr3t-value"
            ) from inner
    except OSError:
        try:
            raise ValidationFailed("cannot import the schedules")  # raised while handling
        except ValidationFailed as exc:
            return exc


def test_the_report_names_every_cause_in_order_and_redacts_them() -> None:
    report = error_report("cannot import the schedules", _chained(), ["s3cr3t-value"])
    assert report.splitlines() == [
        "error: cannot import the schedules",
        "  caused by: OSError: POST https://x.example with Bearer [redacted] failed: [redacted]",
        "  caused by: ValueError: token [redacted] refused",
    ]


def test_a_suppressed_context_is_not_reported() -> None:
    try:
        try:
            raise KeyError("x")
        except KeyError:
            raise ValidationFailed("bad") from None
    except ValidationFailed as exc:
        assert error_report("bad", exc, []) == "error: bad"


def test_an_unreachable_database_exits_2_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://bob:hunter2pw@127.0.0.1:1/nowhere")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the database: ")
    assert "hunter2pw" not in err
