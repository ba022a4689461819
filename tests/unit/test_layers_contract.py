"""The import-linter contract that keeps the domain pure names every third-party package the
code imports: a package added to the project later is forbidden in the domain from the start,
not only once someone remembers to list it."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_CONTRACT = "The domain and the error tree it raises import the standard library only"


def _domain_forbidden() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["name"] == DOMAIN_CONTRACT]
    assert not contract.get("allow_indirect_imports", False)
    return set(contract["forbidden_modules"])


def test_every_third_party_package_is_forbidden_in_the_domain() -> None:
    graph = grimp.build_graph("app", "worker", "db", include_external_packages=True)
    third_party = {
        module
        for module in graph.modules
        if "." not in module
        and module not in ("app", "worker", "db")
        and module not in sys.stdlib_module_names
    }
    assert {"psycopg", "litestar", "procrastinate"} <= third_party  # the scan sees them
    assert third_party - _domain_forbidden() == set()
