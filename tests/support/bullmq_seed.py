"""BullMQ itself, from node, writing job schedulers into a real Redis (tests/support/bullmq/).

BullMQ is pinned by tests/support/bullmq/package-lock.json and installed with `npm ci` into its
node_modules (git-ignored) the first time a test needs it; .ci/run installs it up front. Without
node the tests that need it fail under CI (CI=true) and are skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

BULLMQ_DIR = Path(__file__).resolve().parent / "bullmq"


def _node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "node and npm are needed to run BullMQ (apt-get install nodejs npm)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if not (BULLMQ_DIR / "node_modules" / "bullmq" / "package.json").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=BULLMQ_DIR,
            check=True,
            capture_output=True,
            timeout=600,
        )
    return node


def seed(redis_url: str, prefix: str, queue: str, spec: list[dict[str, Any]]) -> None:
    """Create what `spec` describes with BullMQ's API (see seed.mjs for its shape)."""
    done = subprocess.run(
        [_node(), "seed.mjs", redis_url, prefix, queue],
        cwd=BULLMQ_DIR,
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"created": len(spec)}
