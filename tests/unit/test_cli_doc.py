"""The `scheduler` docstring (its --help and the module's documentation) names every command."""

from __future__ import annotations

import argparse

import app.cli
from app.cli import build_parser


def _commands(parser: argparse.ArgumentParser, prefix: str = "scheduler") -> list[str]:
    found: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, f"{prefix} {name}") or [f"{prefix} {name}"]
    return found


def test_the_docstring_lists_every_command() -> None:
    commands = _commands(build_parser())
    assert len(commands) >= 13  # every command of app/cli, `up` gone to devtools
    assert app.cli.__doc__ is not None
    missing = [c for c in commands if f"\n{c} " not in app.cli.__doc__]
    assert not missing, missing
