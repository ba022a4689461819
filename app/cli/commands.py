"""The CLI's commands: one `cmd_*` per subcommand of `scheduler` (app/cli/__init__.py lists
them), each taking the settings and its parsed arguments and returning the exit status."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from app.domain.loop_health import WorkerProcess
from app.errors import SchedulerError
from app.services import keys, tokens
from app.settings import Settings
from db.session import configure_session
from db.types import Conn


async def _with_conn(url: str, action: Callable[[Conn], Awaitable[int]]) -> int:
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        # UTC whatever the server's or database's TimeZone: instants print as UTC.
        await configure_session(conn)
        return await action(conn)


def _on_database(settings: Settings, action: Callable[[Conn], Awaitable[int]]) -> int:
    """Run `action` on one autocommit connection to DATABASE_URL; its exit status."""
    return asyncio.run(_with_conn(settings.database_url, action))


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    from db.migrate import LockPolicy, current_revision, upgrade

    policy = LockPolicy(
        settings.scheduler_migration_lock_timeout, settings.scheduler_migration_lock_attempts
    )
    upgrade(settings.database_url, locks=policy)
    print(f"database at revision {current_revision(settings.database_url)}")
    return 0


def cmd_token_create(settings: Settings, args: argparse.Namespace) -> int:
    async def action(conn: Conn) -> int:
        token, info = await tokens.create(conn, args.tenant, args.name)
        print(f"token {info.id} for tenant {info.tenant!r} ({info.name}); shown once, keep it:")
        print(token)
        return 0

    return _on_database(settings, action)


def cmd_token_list(settings: Settings, args: argparse.Namespace) -> int:
    async def action(conn: Conn) -> int:
        rows = await tokens.list_tokens(conn, args.tenant)
        print(f"{'id':36}  {'tenant':16}  {'name':20}  {'created':20}  status")
        for t in rows:
            status = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
            print(
                f"{t.id!s:36}  {t.tenant:16}  {t.name:20}  {t.created_at:%Y-%m-%d %H:%M:%S}  "
                f"{status}"
            )
        return 0

    return _on_database(settings, action)


def cmd_token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    try:
        token_id = UUID(args.token_id)
    except ValueError:
        raise SchedulerError(f"token id: {args.token_id!r} is not a UUID") from None

    async def action(conn: Conn) -> int:
        info = await tokens.revoke(conn, token_id)
        print(f"token {info.id} ({info.tenant}/{info.name}) revoked at {info.revoked_at}")
        return 0

    return _on_database(settings, action)


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


def cmd_key_show(settings: Settings, args: argparse.Namespace) -> int:
    async def action(conn: Conn) -> int:
        return _print_keys(args.tenant, await keys.valid_keys(conn, args.tenant))

    return _on_database(settings, action)


def cmd_key_rotate(settings: Settings, args: argparse.Namespace) -> int:
    async def action(conn: Conn) -> int:
        return _print_keys(args.tenant, await keys.rotate(conn, args.tenant, args.grace))

    return _on_database(settings, action)


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when the database answers, its schema is at head and no worker loop is stale
    (container healthchecks; see docs/operations.md). `--host`: only the workers of that host
    (this one when no name is given), and at least one of them must be reporting."""
    from app.services.health import loop_health, readiness

    host: str | None = args.host

    def gone(process: WorkerProcess) -> bool:
        # A silent process of this machine whose pid no longer exists has exited: no problem.
        return process.host == socket.gethostname() and not _pid_exists(process.pid)

    async def action(conn: Conn) -> int:
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

    return _on_database(settings, action)


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    from app.cli.tables import status_table
    from app.clock import utc_now
    from app.services.admin import status

    async def action(conn: Conn) -> int:
        rows = await status(conn, args.tenant, args.limit)
        print(status_table(rows, utc_now()) if rows else "no schedules")
        return 0

    return _on_database(settings, action)


def cmd_history(settings: Settings, args: argparse.Namespace) -> int:
    from app.cli.tables import history_heading, history_table
    from app.services.admin import history

    try:
        schedule_id = UUID(args.schedule_id)
    except ValueError:
        raise SchedulerError(f"schedule id: {args.schedule_id!r} is not a UUID") from None

    async def action(conn: Conn) -> int:
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

    return _on_database(settings, action)


def cmd_incidents(settings: Settings, args: argparse.Namespace) -> int:
    from app.cli.tables import incidents_table
    from app.services.incidents import list_admin

    async def action(conn: Conn) -> int:
        found = await list_admin(conn, tenant=args.tenant, state=args.state, limit=args.limit)
        print(incidents_table(found) if found else "no incidents")
        return 0

    return _on_database(settings, action)


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Create or update the old system's schedules (docs/migrating-from-bullmq.md); exit 0 when
    every one was imported (created, updated or unchanged), 1 when some were skipped."""
    from app.cli.tables import import_table
    from app.services import importing
    from app.services.quotas import quotas_of

    async def action(conn: Conn) -> int:
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

    return _on_database(settings, action)


_IMPORT_STATUSES = ("created", "updated", "unchanged", "skipped")


def cmd_api(settings: Settings, _: argparse.Namespace) -> int:
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
