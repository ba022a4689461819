"""No Docker engine here: check docker-compose.yml's structure and that its commands exist."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

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
