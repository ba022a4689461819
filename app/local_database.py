"""The database of a `make up` running from this checkout, for the CLI when DATABASE_URL is unset.

While `make up` (devtools/up.py, not part of the product) runs, `<data folder>/running` holds
`{"pid": <its process id>, "databaseUrl": <its database>}`; it removes the file when it stops.
This module is both sides of that record, so the format is written down once: `make up` writes
it with `record_running`, and the `scheduler` CLI of the same checkout reads it with
`running_database_url` (docs/operations.md, "The CLI finds the running cluster").
"""

from __future__ import annotations

import json
import os
from pathlib import Path

RUNNING = "running"
DATA_DIR_VARIABLE = "SCHEDULER_DATA_DIR"  # `make up`'s data folder; `.localdata` by default
CHECKOUT = Path(__file__).resolve().parent.parent  # the project folder of an editable install


def record_running(data_dir: Path, url: str) -> Path:
    """Write the record of this process serving `url` (readable by its owner alone)."""
    record = data_dir / RUNNING
    record.write_text(json.dumps({"pid": os.getpid(), "databaseUrl": url}) + "\n")
    record.chmod(0o600)
    return record


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


def running_database_url() -> str | None:
    """The database of a `make up` running from this checkout (or SCHEDULER_DATA_DIR).

    Looks in SCHEDULER_DATA_DIR when set, else in `.localdata` of the current folder and of the
    checkout this package is installed from. A record whose process is gone is ignored.
    """
    if DATA_DIR_VARIABLE in os.environ:
        folders = [Path(os.environ[DATA_DIR_VARIABLE])]
    else:
        folders = [Path.cwd() / ".localdata", CHECKOUT / ".localdata"]
    for folder in folders:
        try:
            record = json.loads((folder / RUNNING).read_text())
            pid, url = int(record["pid"]), str(record["databaseUrl"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(pid):
            return url
    return None
