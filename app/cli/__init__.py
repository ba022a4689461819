"""`scheduler`: administration from a terminal.

scheduler migrate                      apply migrations (DATABASE_URL)
scheduler token create --tenant T --name N   print a new API token (last line of stdout)
scheduler token list [--tenant T]
scheduler token revoke TOKEN_ID
scheduler key show --tenant T          the tenant's signing keys (current key: last line)
scheduler key rotate --tenant T [--grace SECONDS]   new key; old ones sign for the grace
scheduler check [--host [HOST]]        exit 0 if the database is ready and no worker loop is
                                       stale (of HOST only, this host if no name is given)
scheduler status [--tenant T] [--limit N]   schedules, next runs and success rates
scheduler history SCHEDULE_ID [--limit N]  a schedule's recent executions, newest first
scheduler incidents [--tenant T] [--state open|resolved] [--limit N]
                                       alert incidents, newest first (every tenant's without
                                       --tenant)
scheduler import bullmq --redis-url URL [--prefix bull] --queue NAME --tenant T [--dry-run]
                       [--paused]      BullMQ job schedulers and repeatable jobs -> schedules
scheduler import table --database-url URL --tenant T [--dry-run] [--paused]
                                       the replaced system's workflow_triggers -> schedules
scheduler api                          serve the API (API_HOST / API_PORT)

With DATABASE_URL unset, while `make up` runs from the same checkout, its database is used.
Instants are printed in UTC (`Z`), whatever the server's TimeZone.
On an error: `error: <message>`, one `caused by:` line per cause (secrets redacted), exit 2.

The parser and `main` are here, each command's work in app/cli/commands.py, the tables it
prints in app/cli/tables.py; `python -m app.cli` runs `main`.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

import psycopg
from psycopg.conninfo import conninfo_to_dict

from app.cli import commands
from app.errors import SchedulerError
from app.logging import RedactSecrets
from app.services import keys
from app.settings import Settings, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scheduler", description=__doc__.split("\n")[0])
    subcommands = parser.add_subparsers(dest="command", required=True)
    subcommands.add_parser("migrate", help="apply migrations").set_defaults(
        run=commands.cmd_migrate
    )
    subcommands.add_parser("api", help="serve the API").set_defaults(run=commands.cmd_api)
    check = subcommands.add_parser(
        "check", help="exit 0 if the database is ready and no worker loop is stale"
    )
    check.add_argument(
        "--host",
        nargs="?",
        const=socket.gethostname(),
        help="only the workers of this host (default when given without a name: this one)",
    )
    check.set_defaults(run=commands.cmd_check)
    status_parser = subcommands.add_parser("status", help="schedules, next runs, success rates")
    status_parser.add_argument("--tenant")
    status_parser.add_argument("--limit", type=int, default=200)
    status_parser.set_defaults(run=commands.cmd_status)
    history_parser = subcommands.add_parser("history", help="recent executions of a schedule")
    history_parser.add_argument("schedule_id")
    history_parser.add_argument("--limit", type=int, default=20)
    history_parser.set_defaults(run=commands.cmd_history)

    incidents = subcommands.add_parser("incidents", help="alert incidents, newest first")
    incidents.add_argument("--tenant")
    incidents.add_argument("--state", choices=["open", "resolved"])
    incidents.add_argument("--limit", type=int, default=100)
    incidents.set_defaults(run=commands.cmd_incidents)
    token = subcommands.add_parser("token", help="API tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="create a token (printed once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", required=True)
    create.set_defaults(run=commands.cmd_token_create)
    listing = token.add_parser("list", help="list tokens")
    listing.add_argument("--tenant")
    listing.set_defaults(run=commands.cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("token_id")
    revoke.set_defaults(run=commands.cmd_token_revoke)

    importer = subcommands.add_parser(
        "import", help="create the schedules of the replaced system (BullMQ, workflow_triggers)"
    ).add_subparsers(dest="source", required=True)
    bullmq = importer.add_parser("bullmq", help="a BullMQ queue's job schedulers in Redis")
    bullmq.add_argument("--redis-url", required=True)
    bullmq.add_argument("--prefix", default="bull", help="BullMQ's key prefix (default: bull)")
    bullmq.add_argument("--queue", required=True)
    table = importer.add_parser("table", help="the replaced system's workflow_triggers table")
    table.add_argument("--database-url", required=True, help="the replaced system's database")
    for source in (bullmq, table):
        source.add_argument("--tenant", required=True, help="whose schedules they become")
        source.add_argument("--dry-run", action="store_true", help="report only, write nothing")
        source.add_argument(
            "--paused", action="store_true", help="import them paused (for the switch-over)"
        )
        source.set_defaults(run=commands.cmd_import)

    key = subcommands.add_parser("key", help="tenants' signing keys").add_subparsers(
        dest="key_command", required=True
    )
    show = key.add_parser("show", help="the keys that sign a tenant's deliveries")
    show.add_argument("--tenant", required=True)
    show.set_defaults(run=commands.cmd_key_show)
    rotate = key.add_parser("rotate", help="a new current key; the old ones sign for --grace")
    rotate.add_argument("--tenant", required=True)
    rotate.add_argument(
        "--grace", type=float, default=keys.DEFAULT_GRACE_SECONDS, metavar="SECONDS"
    )
    rotate.set_defaults(run=commands.cmd_key_rotate)
    return parser


def _local_database() -> dict[str, str]:
    """With DATABASE_URL unset, the database of a `make up` running from this checkout."""
    if os.environ.get("DATABASE_URL"):
        return {}
    from app.local_database import running_database_url

    url = running_database_url()
    if url is None:
        return {}
    print(f"(DATABASE_URL is unset: using the `make up` database, {url})", file=sys.stderr)
    return {"database_url": url}


def error_report(headline: str, exc: BaseException, secrets: list[str]) -> str:
    """`error: headline`, then one `caused by:` line per exception under `exc` (its `__cause__`,
    or the `__context__` it was raised in), as Python's traceback walks them; each redacted by
    the log's rules (app/logging.py: tokens and `secrets`), so no secret reaches the terminal."""
    redact = RedactSecrets(secrets).redact
    lines = [f"error: {headline}"]
    seen = {id(exc)}
    cause = _cause_of(exc)
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        text = str(cause).strip().splitlines()
        lines.append(f"  caused by: {type(cause).__name__}" + (f": {text[0]}" if text else ""))
        cause = _cause_of(cause)
    return "\n".join(redact(line) for line in lines)


def _cause_of(exc: BaseException) -> BaseException | None:
    if exc.__cause__ is not None:
        return exc.__cause__
    return None if exc.__suppress_context__ else exc.__context__


def _secrets(settings: Settings | None) -> list[str]:
    """What the report must not show: the internal secret and the database's password."""
    if settings is None:
        return []
    password = conninfo_to_dict(settings.database_url).get("password")
    return [settings.internal_api_secret.get_secret_value(), *([str(password)] if password else [])]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings: Settings | None = None
    try:
        settings = load_settings(**_local_database())
        return int(args.run(settings, args))
    except SchedulerError as exc:
        print(error_report(exc.message, exc, _secrets(settings)), file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        headline = f"cannot reach the database: {first}"
        print(error_report(headline, exc, _secrets(settings)), file=sys.stderr)
        return 2
