"""Start-up refuses a signing secret that cannot work (issue 10 point 6; M2, M7).

A malformed `whsec_` key, an empty or unset secret, a published placeholder or a key too short
to be one stop the API (`scheduler api`) and the worker (`python -m worker`) before they touch
the database or the network: exit 2 and a message naming INTERNAL_API_SECRET, never the value.
Before the fix both processes started and `whsec_%%%` made every batch fail after its runs were
marked running, forever (M2); an empty secret meant unsigned deliveries (M7).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.errors import ConfigError
from app.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
BAD_SECRETS = {
    "malformed whsec_": "whsec_not*base64!",
    "empty whsec_": "whsec_",
    "empty": "",
    "blank": "   ",
    "compose placeholder": "change-me",
    "too short": "short-secret",
    "whsec_ key too short": "whsec_c2hvcnQ=",
}
PROCESSES = {
    "api": [sys.executable, "-m", "app.cli", "api"],
    "worker": [sys.executable, "-m", "worker"],
}


def _start(argv: list[str], secret: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "INTERNAL_API_SECRET"}
    if secret is not None:
        env["INTERNAL_API_SECRET"] = secret
    # Nothing listens there: a process that got past its checks would hang or fail later,
    # not with exit 2 and the variable's name.
    env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:9/none"
    env["API_PORT"] = "9"
    return subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("process", sorted(PROCESSES))
@pytest.mark.parametrize("case", [*sorted(BAD_SECRETS), "unset"])
def test_a_bad_secret_stops_start_up_naming_the_variable(process: str, case: str) -> None:
    secret = BAD_SECRETS.get(case)
    done = _start(PROCESSES[process], secret)
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert "INTERNAL_API_SECRET" in done.stderr
    if secret and len(secret.strip()) > len("whsec_"):  # the prefix itself is named
        assert secret not in done.stdout + done.stderr, "the secret is never echoed"


@pytest.mark.parametrize("case", sorted(BAD_SECRETS))
def test_settings_name_the_variable_and_not_the_value(
    monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.setenv("INTERNAL_API_SECRET", BAD_SECRETS[case])
    with pytest.raises(ConfigError, match="INTERNAL_API_SECRET") as raised:
        load_settings().require_signing_secret()
    if len(BAD_SECRETS[case].strip()) > len("whsec_"):
        assert BAD_SECRETS[case] not in raised.value.message


@pytest.mark.parametrize(
    "secret", ["a-random-secret-of-24-chars", "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
)
def test_a_usable_secret_is_accepted(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("INTERNAL_API_SECRET", secret)
    load_settings().require_signing_secret()


def test_admin_commands_need_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """`scheduler migrate`, `token`, `check` sign nothing: an unset secret is fine there."""
    monkeypatch.delenv("INTERNAL_API_SECRET", raising=False)
    assert load_settings().internal_api_secret.get_secret_value() == ""
