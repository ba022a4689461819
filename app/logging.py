"""Structured logs: JSON in production, readable lines in a terminal, a stable `event` key.

In a terminal, Procrastinate's records about jobs are one short line each (`job 12
executions.run_batch succeeded in 0.031 s`): their extras are whole job dictionaries (a batch
job's arguments are 100 execution ids) and their message repeats them. JSON keeps every field.

A redacting filter removes bearer tokens, API tokens and the configured secret from every record
before any handler sees it, so a secret cannot reach a log by accident (SPEC §8): the message,
every extra field (also inside lists and dicts, and objects by their text), the stack and the
exception's traceback, which is formatted and redacted by the filter itself.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from app.settings import Settings

_TOKEN_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[^\s\"',]+"),
    re.compile(r"wfs_[0-9a-f]{32}[A-Za-z0-9_\-]+"),
    re.compile(r"whsec_[A-Za-z0-9+/=]+"),
]
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_TRACEBACKS = logging.Formatter()


class RedactSecrets(logging.Filter):
    """Replaces secrets in the message and in extra fields with `[redacted]`."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        for pattern in _TOKEN_PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[redacted]", text)
        return text

    def _redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dict):
            return {key: self._redact_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._redact_value(item) for item in value]
        return self.redact(str(value))  # an exception or any object: its text may quote a secret

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            # Exception texts quote what failed: a parameter, a URL, a target's answer. The
            # traceback is rendered here, redacted, and kept as `exc_text`, the text every
            # formatter prints; without `exc_info` no formatter can render the raw one again.
            record.exc_text = self.redact(_TRACEBACKS.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, self._redact_value(value))
        return True


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    """The record's traceback: the redacted text the filter left, else rendered here."""
    if record.exc_text:
        return record.exc_text
    return formatter.formatException(record.exc_info) if record.exc_info else None


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", record.name),
            "message": record.getMessage(),
        }
        body.update({k: v for k, v in _extras(record).items() if k != "event"})
        if exception := _exception_text(self, record):
            body["exception"] = exception
        if record.stack_info:
            body["stack"] = record.stack_info
        return json.dumps(body, default=str)


_JOB_STATUSES = {
    "start_job": "started",
    "job_success": "succeeded",
    "job_error": "failed",
    "job_error_retry": "failed, to retry",
    "job_aborted": "aborted",
    "job_aborted_retry": "aborted, to retry",
    "finish_task": "acknowledged",
    "abort_job": "aborting",
    "periodic_task_deferred": "deferred (periodic)",
}
_ENDED = {"job_success", "job_error", "job_error_retry", "job_aborted", "job_aborted_retry"}
# Procrastinate's extras that the console line leaves out: the job (or worker) dictionaries,
# and what the short line already says.
_PROCRASTINATE_FIELDS = {
    "action",
    "worker",
    "queues",
    "job",
    "jobs",
    "status",
    "task_name",
    "kwargs",
    "defer_timestamp",
    "start_timestamp",
    "end_timestamp",
    "duration",
    "result",
}
MAX_JOB_IDS = 5
"""A `Deferred N jobs` line names this many ids, then says how many more."""


def _job_summary(extras: dict[str, Any]) -> str | None:
    """One of Procrastinate's job records as a short text: id, task, status (and duration);
    None for its other records."""
    job, jobs = extras.get("job"), extras.get("jobs")
    if isinstance(job, dict):
        action = str(extras.get("action", ""))
        status = _JOB_STATUSES.get(action) or action or str(job.get("status"))
        text = f"job {job.get('id')} {job.get('task_name')} {status}"
        duration = extras.get("duration")
        if action in _ENDED and isinstance(duration, int | float):
            text += f" in {duration:.3f} s"
        return text
    if isinstance(jobs, list) and all(isinstance(j, dict) for j in jobs):
        ids = ", ".join(str(j["id"]) for j in jobs[:MAX_JOB_IDS] if j.get("id") is not None)
        more = f" and {len(jobs) - MAX_JOB_IDS} more" if len(jobs) > MAX_JOB_IDS else ""
        tasks = ", ".join(sorted({str(j.get("task_name")) for j in jobs}))
        verb = "deferred" if extras.get("action") == "jobs_deferred" else "about to defer"
        return f"{verb} {len(jobs)} {tasks}: {ids or 'no ids yet'}{more}"
    return None


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")  # noqa: DTZ006 - local time for people
        fields, message = _extras(record), record.getMessage()
        if record.name.startswith("procrastinate"):
            message = _job_summary(fields) or message
            fields = {k: v for k, v in fields.items() if k not in _PROCRASTINATE_FIELDS}
        extras = " ".join(f"{k}={v}" for k, v in fields.items() if k != "event")
        event = getattr(record, "event", record.name)
        line = f"{when} {record.levelname:<7} {event:<28} {message} {extras}".rstrip()
        if exception := _exception_text(self, record):
            line += "\n" + exception
        if record.stack_info:
            line += "\n" + record.stack_info
        return line


def configure_logging(settings: Settings) -> None:
    """Install one handler on the root logger (idempotent)."""
    use_json = settings.log_format == "json" or (
        settings.log_format == "auto" and not sys.stderr.isatty()
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else ConsoleFormatter())
    handler.addFilter(RedactSecrets([settings.internal_api_secret.get_secret_value()]))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
