"""`python -m worker [options]`: one worker process, on uvloop.

The same as `procrastinate --app=worker.app worker [options]` (which still works, on the stdlib
event loop), except for the event loop: Procrastinate's CLI calls `asyncio.run` before it loads
the app, so only an entry point of our own can choose the loop. uvloop makes the sends at a fire
instant cheaper: 1,000 every-second schedules, 2 workers, same machine and run length: fire lag
p50 21 → 17 ms, p99 101 → 72 ms, worker CPU per slot 0.3 → 0.2 ms (docs/benchmarks.md).
"""

from __future__ import annotations

import sys

from procrastinate.cli import main as procrastinate_main

from app import tracing
from app.errors import ConfigError
from app.settings import load_settings


def main(argv: list[str] | None = None) -> None:
    try:  # refuse a configuration that cannot work before anything starts (SPEC §8)
        load_settings().require_signing_secret()
        tracing.setup("workflow-scheduler-worker")  # asked for but not installed: refused
    except ConfigError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(2)
    try:
        import uvloop
    except ImportError:  # not built for this platform: the stdlib loop works, only slower
        pass
    else:
        uvloop.install()
    sys.argv = ["procrastinate", "--app=worker.app", "worker", *(argv or sys.argv[1:])]
    procrastinate_main()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
