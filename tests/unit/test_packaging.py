"""The product ships the product: devtools/, tests/ and bench/ stay out of the wheel and the
image, nothing the product runs imports them, and the production CLI has no `up` command
(`make up` is `python -m devtools.up`)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

from app.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("app", "worker", "db")
NOT_SHIPPED = ("devtools", "tests", "bench")


def test_the_wheel_holds_the_product_packages_alone() -> None:
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = find_packages(str(ROOT), include=found["packages"]["find"]["include"])
    assert {p.split(".")[0] for p in packages} == set(PRODUCT)


def test_the_image_copies_the_product_alone() -> None:
    copied = re.findall(r"^COPY\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert {Path(source).parts[0] for source in copied} <= {*PRODUCT, "pyproject.toml", "README.md"}


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    names |= {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize("package", PRODUCT)
def test_the_product_imports_no_development_tool(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported(path) & set(NOT_SHIPPED))
        for path in (ROOT / package).rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_cli_has_no_up_command() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up"])
