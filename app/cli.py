"""`scheduler`: administration from a terminal.

scheduler migrate                      apply migrations (DATABASE_URL)
scheduler token create --tenant T --name N   print a new API token (last line of stdout)
scheduler token list [--tenant T]
scheduler token revoke TOKEN_ID
scheduler key show --tenant T          the tenant's signing keys (current key: last line)
scheduler key rotate --tenant T [--grace SECONDS]   new key; old ones sign for the grace
scheduler check [--host [HOST]]        exit 0 if the database is ready and no worker loop is
                                       stale (of HOST only, this host if no name is given)
scheduler incidents [--tenant T] [--state open|resolved] [--limit N]
                                       alert incidents, newest first (every tenant's without
                                       --tenant)
scheduler import bullmq --redis-url URL [--prefix bull] --queue NAME --tenant T [--dry-run]
                       [--paused]      BullMQ job schedulers and repeatable jobs -> schedules
scheduler import table --database-url URL --tenant T [--dry-run] [--paused]
                                       the replaced system's workflow_triggers -> schedules
scheduler api                          serve the API (API_HOST / API_PORT)

With DATABASE_URL unset, while `make up` runs from the same checkout, its database is used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from app.domain.loop_health import WorkerProcess
from app.errors import SchedulerError
from app.services import keys, tokens
from app.settings import Settings, load_settings


async def _with_conn(url: str, action: Callable[[Any], Awaitable[int]]) -> int:
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        return await action(conn)


def _cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    from db.migrate import current_revision, upgrade

    upgrade(settings.database_url)
    print(f"database at revision {current_revision(settings.database_url)}")
    return 0


def _cmd_token_create(settings: Settings, args: argparse.Namespace) -> int:
    async def action(conn: Any) -> int:
        token, info = await tokens.create(conn, args.tenant, args.name)
        print(f"token {info.id} for tenant {info.tenant!r} ({info.name}); shown once, keep it:")
        print(token)
        return 0

    return asyncio.run(_with_conn(settings.database_url, action))


def _cmd_token_list(settings: Settings, args: argparse.Namespace) -> int:
    async def action(conn: Any) -> int:
        rows = await tokens.list_tokens(conn, args.tenant)
        print(f"{'id':36}  {'tenant':16}  {'name':20}  {'created':20}  status")
        for t in rows:
            status = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
            print(
                f"{t.id!s:36}  {t.tenant:16}  {t.name:20}  {t.created_at:%Y-%m-%d %H:%M:%S}  "
                f"{status}"
            )
        return 0

    return asyncio.run(_with_conn(settings.database_url, action))


def _cmd_token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    try:
        token_id = UUID(args.token_id)
    except ValueError:
        raise SchedulerError(f"token id: {args.token_id!r} is not a UUID") from None

    async def action(conn: Any) -> int:
        info = await tokens.revoke(conn, token_id)
        print(f"token {info.id} ({info.tenant}/{info.name}) revoked at {info.revoked_at}")
        return 0

    return asyncio.run(_with_conn(settings.database_url, action))


def _print_keys(tenant: str, found: list[keys.SigningKey]) -> int:
    if not found:
        print(f"tenant {tenant!r} has no signing key: `scheduler key rotate --tenant T` makes one")
        return 1
    print(f"tenant {tenant!r}: deliveries to its own targetUrls are signed with")
    for key in found:
        when = (
            "current" if key.expires_at is None else f"until {key.expires_at:%Y-%m-%d %H:%M:%S%z}"
        )
        print(f"  {key.secret}  ({when}, created {key.created_at:%Y-%m-%d %H:%M:%S%z})")
    print(found[0].secret)
    return 0


def _cmd_key_show(settings: Settings, args: argparse.Namespace) -> int:
    async def action(conn: Any) -> int:
        return _print_keys(args.tenant, await keys.valid_keys(conn, args.tenant))

    return asyncio.run(_with_conn(settings.database_url, action))


def _cmd_key_rotate(settings: Settings, args: argparse.Namespace) -> int:
    async def action(conn: Any) -> int:
        return _print_keys(args.tenant, await keys.rotate(conn, args.tenant, args.grace))

    return asyncio.run(_with_conn(settings.database_url, action))


def _cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when the database answers, its schema is at head and no worker loop is stale
    (container healthchecks; see docs/operations.md). `--host`: only the workers of that host
    (this one when no name is given), and at least one of them must be reporting."""
    from app.services.health import loop_health, readiness

    host: str | None = args.host

    def gone(process: WorkerProcess) -> bool:
        # A silent process of this machine whose pid no longer exists has exited: no problem.
        return process.host == socket.gethostname() and not _pid_exists(process.pid)

    async def action(conn: Any) -> int:
        result = await readiness(conn)
        print(f"database {result.database}; migrations {result.migrations}")
        if not result.ready:
            return 1
        health = await loop_health(conn, host=host, gone=gone)
        where = f" on host {host}" if host else ""
        print(
            f"worker loops{where}: {health.processes} processes, {len(health.states)} loops, "
            f"{len(health.problems)} problems"
        )
        for problem in health.problems:
            print(f"  {problem}")
        return 1 if health.problems else 0

    return asyncio.run(_with_conn(settings.database_url, action))


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    from app.clock import utc_now
    from app.services.admin import status
    from app.terminal import status_table

    async def action(conn: Any) -> int:
        rows = await status(conn, args.tenant, args.limit)
        print(status_table(rows, utc_now()) if rows else "no schedules")
        return 0

    return asyncio.run(_with_conn(settings.database_url, action))


def _cmd_history(settings: Settings, args: argparse.Namespace) -> int:
    from app.services.admin import history
    from app.terminal import history_heading, history_table

    try:
        schedule_id = UUID(args.schedule_id)
    except ValueError:
        raise SchedulerError(f"schedule id: {args.schedule_id!r} is not a UUID") from None

    async def action(conn: Any) -> int:
        schedule, executions = await history(conn, schedule_id, args.limit)
        print(
            history_heading(
                schedule.workflow_id,
                schedule.tenant,
                schedule.cron_expression,
                schedule.timezone,
                schedule.state,
            )
        )
        print(history_table(executions) if executions else "no executions yet")
        return 0

    return asyncio.run(_with_conn(settings.database_url, action))


def _cmd_incidents(settings: Settings, args: argparse.Namespace) -> int:
    from app.services.incidents import list_admin
    from app.terminal import incidents_table

    async def action(conn: Any) -> int:
        found = await list_admin(conn, tenant=args.tenant, state=args.state, limit=args.limit)
        print(incidents_table(found) if found else "no incidents")
        return 0

    return asyncio.run(_with_conn(settings.database_url, action))


def _cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Create or update the old system's schedules (docs/migrating-from-bullmq.md); exit 0 when
    every one was imported (created, updated or unchanged), 1 when some were skipped."""
    from app.services import importing
    from app.services.quotas import quotas_of
    from app.terminal import import_table

    async def action(conn: Any) -> int:
        if args.source == "bullmq":
            entries = await importing.read_bullmq(args.redis_url, args.prefix, args.queue)
            mapped = importing.map_all_bullmq(entries, args.queue, paused=args.paused)
        else:
            rows = await importing.read_triggers(args.database_url)
            mapped = importing.map_all_triggers(rows, paused=args.paused)
        report = await importing.import_schedules(
            conn,
            args.tenant,
            mapped,
            quotas=quotas_of(settings),
            target_allowlist=settings.target_allowlist,
            dry_run=args.dry_run,
        )
        if report:
            print(import_table(report))
        counts = {s: sum(1 for r in report if r.status == s) for s in _IMPORT_STATUSES}
        summary = ", ".join(f"{n} {status}" for status, n in counts.items())
        suffix = " (dry run: nothing was written)" if args.dry_run else ""
        print(f"{len(report)} found for tenant {args.tenant!r}: {summary}{suffix}")
        return 1 if counts["skipped"] else 0

    return asyncio.run(_with_conn(settings.database_url, action))


_IMPORT_STATUSES = ("created", "updated", "unchanged", "skipped")


def _cmd_api(settings: Settings, _: argparse.Namespace) -> int:
    import uvicorn

    from app import tracing
    from app.api.app import create_app
    from app.api.server import server_options
    from app.logging import configure_logging

    settings.require_signing_secret()
    configure_logging(settings)
    tracing.setup("workflow-scheduler-api")
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        **server_options(settings),
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scheduler", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply migrations").set_defaults(run=_cmd_migrate)
    commands.add_parser("api", help="serve the API").set_defaults(run=_cmd_api)
    check = commands.add_parser(
        "check", help="exit 0 if the database is ready and no worker loop is stale"
    )
    check.add_argument(
        "--host",
        nargs="?",
        const=socket.gethostname(),
        help="only the workers of this host (default when given without a name: this one)",
    )
    check.set_defaults(run=_cmd_check)
    status_parser = commands.add_parser("status", help="schedules, next runs, success rates")
    status_parser.add_argument("--tenant")
    status_parser.add_argument("--limit", type=int, default=200)
    status_parser.set_defaults(run=_cmd_status)
    history_parser = commands.add_parser("history", help="recent executions of a schedule")
    history_parser.add_argument("schedule_id")
    history_parser.add_argument("--limit", type=int, default=20)
    history_parser.set_defaults(run=_cmd_history)

    incidents = commands.add_parser("incidents", help="alert incidents, newest first")
    incidents.add_argument("--tenant")
    incidents.add_argument("--state", choices=["open", "resolved"])
    incidents.add_argument("--limit", type=int, default=100)
    incidents.set_defaults(run=_cmd_incidents)
    token = commands.add_parser("token", help="API tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="create a token (printed once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", required=True)
    create.set_defaults(run=_cmd_token_create)
    listing = token.add_parser("list", help="list tokens")
    listing.add_argument("--tenant")
    listing.set_defaults(run=_cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("token_id")
    revoke.set_defaults(run=_cmd_token_revoke)

    importer = commands.add_parser(
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
        source.set_defaults(run=_cmd_import)

    key = commands.add_parser("key", help="tenants' signing keys").add_subparsers(
        dest="key_command", required=True
    )
    show = key.add_parser("show", help="the keys that sign a tenant's deliveries")
    show.add_argument("--tenant", required=True)
    show.set_defaults(run=_cmd_key_show)
    rotate = key.add_parser("rotate", help="a new current key; the old ones sign for --grace")
    rotate.add_argument("--tenant", required=True)
    rotate.add_argument(
        "--grace", type=float, default=keys.DEFAULT_GRACE_SECONDS, metavar="SECONDS"
    )
    rotate.set_defaults(run=_cmd_key_rotate)
    return parser


def _local_database(command: str) -> dict[str, str]:
    """With DATABASE_URL unset, the database of a `make up` running from this checkout."""
    if os.environ.get("DATABASE_URL"):
        return {}
    from app.local_database import running_database_url

    url = running_database_url()
    if url is None:
        return {}
    print(f"(DATABASE_URL is unset: using the `make up` database, {url})", file=sys.stderr)
    return {"database_url": url}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(**_local_database(args.command))
        return int(args.run(settings, args))
    except SchedulerError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        print(f"error: cannot reach the database: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
