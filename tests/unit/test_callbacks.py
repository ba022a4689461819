"""Callback tokens and reports (issue 11): pure rules."""

from __future__ import annotations

from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from app.domain.callbacks import (
    TOKEN_PREFIX,
    Report,
    callback_token,
    callback_token_valid,
    result_url,
    same_report,
)

KEY = "k" * 64
RUN = UUID("0b6f2f0e-93f3-4c4e-8f5e-2f0a7c1d9b11")


def test_a_token_is_stable_prefixed_and_not_the_key() -> None:
    token = callback_token(KEY, RUN)
    assert token == callback_token(KEY, RUN)
    assert token.startswith(TOKEN_PREFIX) and KEY not in token
    assert len(token) == len(TOKEN_PREFIX) + 43  # 256 bits, base64url without padding


@given(st.uuids(), st.uuids())
def test_a_token_proves_its_own_execution_only(a: UUID, b: UUID) -> None:
    assert callback_token_valid(KEY, a, callback_token(KEY, a))
    if a != b:
        assert not callback_token_valid(KEY, b, callback_token(KEY, a))


def test_another_key_makes_other_tokens() -> None:
    assert not callback_token_valid("other" * 10, RUN, callback_token(KEY, RUN))
    assert not callback_token_valid(KEY, RUN, callback_token(KEY, RUN)[:-1])
    assert not callback_token_valid(KEY, RUN, "")


def test_the_result_url_is_absolute_under_the_public_address() -> None:
    assert result_url("https://sched.example.com/", RUN) == (
        f"https://sched.example.com/api/executions/{RUN}/result"
    )


def test_a_repeated_report_is_the_same_and_any_difference_is_not() -> None:
    done = Report("succeeded", output={"a": 1})
    assert same_report(done, Report("succeeded", output={"a": 1}))
    assert not same_report(done, Report("succeeded", output={"a": 2}))
    assert not same_report(done, Report("failed", output={"a": 1}))
    assert not same_report(Report("failed"), Report("failed", retryable=True))
    assert not same_report(Report("failed", error="x"), Report("failed", error="y"))
