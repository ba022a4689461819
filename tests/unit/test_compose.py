"""No Docker engine here: check docker-compose.yml's structure and that its commands exist."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from app.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, dict[str, object]]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]  # type: ignore[no-any-return]


def test_services_present() -> None:
    services = compose()
    assert {"postgres", "migrate", "api", "worker", "redis"} <= set(services)
    assert services["redis"]["profiles"] == ["cache"]
    assert "volumes" in services["postgres"]
    assert services["api"]["restart"] == "always" and services["worker"]["restart"] == "always"
    for name in ("postgres", "api", "worker", "redis"):
        assert "healthcheck" in services[name], name
    # Scalable: a worker must not pin a container name or a host port.
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]


def test_commands_exist_in_the_project() -> None:
    scheduler_commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    for name, service in compose().items():
        commands = [service.get("command")]
        check = service.get("healthcheck", {}).get("test", [])  # type: ignore[union-attr]
        if check[:2] == ["CMD", "scheduler"]:
            commands.append(check[1:])
        for command in commands:
            _assert_runs_here(name, command, scheduler_commands)


def _assert_runs_here(name: str, command: object, scheduler_commands: set[str]) -> None:
    if command is None:
        return
    assert isinstance(command, list), name
    program = command[0]
    if program == "scheduler":
        assert command[1] in scheduler_commands, (name, command)
    elif program == "procrastinate":
        app_path = next(a.split("=", 1)[1] for a in command if a.startswith("--app="))
        module, _, attribute = app_path.rpartition(".")
        assert hasattr(importlib.import_module(module), attribute), (name, app_path)
    elif command[:2] == ["python", "-m"]:
        spec = importlib.util.find_spec(f"{command[2]}.__main__") or importlib.util.find_spec(
            command[2]
        )
        assert spec is not None, (name, command)
    else:
        raise AssertionError(f"{name}: unknown program {program}")


def test_scheduler_console_script_is_declared() -> None:
    assert 'scheduler = "app.cli:main"' in (ROOT / "pyproject.toml").read_text()


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("app", "worker", "db"):
        assert f"COPY {package} ./{package}" in dockerfile


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR:-default}` and `${VAR:?message}` (the two forms the file uses)."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise ValueError(f"required variable {name} is missing a value: {rest}")
        return rest

    return re.sub(r"\$\{([A-Z_]+)(:-|:\?)([^}]*)\}", one, value)


def test_no_secret_no_start() -> None:
    """`docker compose up` without INTERNAL_API_SECRET fails with a message naming it (M7):
    no published default signs deliveries; a placeholder set by hand is refused by the
    processes themselves (tests/security/test_startup_secrets.py)."""
    from app.settings import secret_problem

    for name, service in compose().items():
        env = service.get("environment") or {}
        assert isinstance(env, dict), name
        if "INTERNAL_API_SECRET" not in env:
            continue
        value = str(env["INTERNAL_API_SECRET"])
        assert value.startswith("${INTERNAL_API_SECRET:?"), (name, value)
        for unset in ({}, {"INTERNAL_API_SECRET": ""}):
            with pytest.raises(ValueError, match="INTERNAL_API_SECRET is not set"):
                _interpolate(value, unset)
        assert _interpolate(value, {"INTERNAL_API_SECRET": "k" * 32}) == "k" * 32
        assert secret_problem("change-me") is not None
    assert "api" in compose() and "INTERNAL_API_SECRET" in compose()["worker"]["environment"]  # type: ignore[operator]
