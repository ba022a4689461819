"""`scheduler ...` run as an operator runs it: a new process on DATABASE_URL."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m app.cli *args` against `database_url`; its exit status and text output."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
