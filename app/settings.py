"""One typed settings object, read from the environment at the edge and passed down.

Every variable is validated at start-up; a bad value stops the process with the variable's name
in the message (SPEC §8). Tests build their own `Settings(...)`.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain.alerts import smtp_url_problem
from app.domain.incidents import DEFAULT_MIN_INTERVAL_SECONDS, AlertPolicy
from app.domain.webhook import signing_key
from app.errors import ConfigError

# Values that are published (our own old compose default and the usual stand-ins): a secret
# anyone can read is no secret, so they are refused like an empty one.
PLACEHOLDER_SECRETS = frozenset({"change-me", "changeme", "change_me", "secret", "password"})
MIN_SECRET_BYTES = 16

DEFAULT_TARGET_URL = "http://localhost:3000/api/workflows/{workflowId}/execute"


class Settings(BaseSettings):
    """The service's configuration. Field names are the environment variables, lower-cased."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/scheduler",
        description="PostgreSQL URL (the only store).",
    )
    # A streaming replica of DATABASE_URL for the reads that tolerate lag (execution history,
    # statistics, the dashboard's lists, /metrics): used while it is at most
    # SCHEDULER_READ_MAX_LAG_SECONDS behind the primary, the primary otherwise (app/api/
    # read_routing.py). Writes, firing and every read that must see a write stay on the primary.
    database_read_url: str | None = Field(
        default=None, description="Optional streaming replica for lag-tolerant reads."
    )
    scheduler_read_max_lag_seconds: float = Field(default=2.0, gt=0, le=3_600)
    redis_url: str | None = Field(default=None, description="Optional cache; never required.")
    internal_api_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer secret and webhook signing key for outbound calls.",
        validate_default=False,  # unset is allowed here; serving processes refuse it
    )

    @field_validator("internal_api_secret")
    @classmethod
    def _usable_secret(cls, value: SecretStr) -> SecretStr:
        """A secret that is given must be usable: not blank, not a published placeholder, and
        a `whsec_` key must decode (M2: a malformed one used to make every batch fail after
        its runs were marked running). An unset secret is refused where one is needed, at
        the start of the API and the worker (`require_signing_secret`): the admin commands
        sign nothing."""
        problem = secret_problem(value.get_secret_value())
        if problem:
            raise ValueError(problem)
        return value

    scheduler_target_url: str = Field(
        default=DEFAULT_TARGET_URL,
        description="Outbound URL; {workflowId} is replaced by the schedule's workflow id.",
    )
    scheduler_target_allowlist: str = Field(
        default="",
        description="Comma-separated URL prefixes a schedule's targetUrl may start with.",
    )
    scheduler_history_retention_days: int = Field(default=30, ge=1, le=36_500)
    # The history is partitioned by slot time (docs/history-partitions.md): partitions of this
    # many hours (24: UTC days), made this many ahead of the current one; retention drops a
    # partition whole once all its slots are older than the retention. Its DDL waits for a
    # table lock at most `lock_timeout` seconds (firing queues behind a waiting DDL statement).
    scheduler_history_partition_hours: int = Field(default=24, ge=1, le=24 * 31)
    scheduler_history_partitions_ahead: int = Field(default=3, ge=1, le=366)
    scheduler_history_lock_timeout: float = Field(default=0.1, gt=0, le=60)
    # `scheduler migrate`: each migration's statements wait this long at most for a table lock
    # (a DDL statement waiting for one holds up the firing behind it), then the migration is
    # rolled back and tried again, up to this many times (docs/operations.md).
    scheduler_migration_lock_timeout: float = Field(default=1.0, gt=0, le=600)
    scheduler_migration_lock_attempts: int = Field(default=20, ge=1, le=10_000)
    scheduler_shutdown_timeout: float = Field(default=25.0, ge=0, le=3_600)
    # Batch jobs a worker process runs at once through Procrastinate; each batch sends up to
    # 100 requests at once. The batches a worker dispatched itself (waiting for their instant)
    # are bounded by memory (below); requests in flight stay within concurrency × 100.
    scheduler_worker_concurrency: int = Field(default=10, ge=1, le=1_000)
    # Memory a worker process gives to runs dispatched ahead and waiting for their instant,
    # every request built and signed (worker/local.py `BYTES_PER_PREPARED_RUN` each): how many
    # runs of a crowded instant one worker holds ready. The rest wait as jobs in the queue and
    # go out after the instant. The default (51,200 runs) keeps a worker under 300 MB RSS.
    scheduler_prepared_runs_memory_mb: int = Field(default=200, ge=1, le=1_000_000)
    # How long before any fire instant the dispatcher starts on it (a crowded second starts
    # earlier still, as long as its slots take). A run dispatched ahead is a committed
    # decision: pausing its schedule within the lead does not call it back.
    scheduler_dispatch_lead_seconds: float = Field(default=0.3, ge=0, le=60)
    # Crash detection: a worker heartbeats every interval; one silent for `stalled_after`
    # seconds is dead and its jobs are run again. Lower them only in tests.
    scheduler_heartbeat_interval: float = Field(default=10.0, gt=0, le=300)
    scheduler_stalled_after: float = Field(default=30.0, gt=0, le=3_600)
    scheduler_maintenance_interval: float = Field(default=5.0, gt=0, le=3_600)
    # Seconds between two folds of the statistics deltas, for the whole deployment. Reads are
    # exact at any value (they add the deltas not folded yet); a longer one sums more slots of
    # a schedule into each value row written, a shorter one leaves fewer deltas for /metrics
    # to add up (docs/benchmarks.md, issue 13). At most 5 minutes: deltas wait that long.
    scheduler_stats_fold_interval: float = Field(default=5.0, ge=0, le=300)
    # Supervised loops (H2): a loop with no successful pass for max(this, 3 × its period) is
    # stale (`scheduler check` fails, /metrics shows it). The dispatcher's period is its
    # longest sleep without a notification. Lower them only in tests.
    scheduler_loop_stale_after: float = Field(default=30.0, gt=0, le=3_600)
    scheduler_dispatch_max_sleep: float = Field(default=5.0, gt=0, le=60)
    # Manual runs (trigger and backfill requests) per tenant and API process: a token bucket
    # refilled at `rate` a second holding at most `burst` (app/api/ratelimit.py).
    scheduler_trigger_rate: float = Field(default=10.0, gt=0, le=1_000_000)
    scheduler_trigger_burst: int = Field(default=20, ge=1, le=1_000_000)
    # Workflow reports (POST /api/executions/{id}/result and /heartbeat) per tenant and API
    # process: a token bucket like the one above, sized for many workflows ending together.
    scheduler_report_rate: float = Field(default=200.0, gt=0, le=1_000_000)
    scheduler_report_burst: int = Field(default=1_000, ge=1, le=1_000_000)
    # The API's address as the workflows reach it: each delivery's `callbackUrl` is built from
    # it. Unset: http://localhost:<API_PORT>, the API's own address on one machine (`make up`).
    scheduler_public_url: str | None = Field(default=None, max_length=1_000)
    # Alerts (issue 12): at most one opened/resolved pair announced per incident per this many
    # seconds; an incident that comes back within it is the same one, announced once it has
    # passed (app/domain/incidents.py).
    scheduler_alert_min_interval: float = Field(
        default=DEFAULT_MIN_INTERVAL_SECONDS, ge=0, le=86_400
    )
    # How often the API's watcher looks for late runs (run.late) and held announcements.
    scheduler_alert_watch_interval: float = Field(default=5.0, gt=0, le=3_600)
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65_535)
    log_format: Literal["json", "console", "auto"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # How long an API request waits for a pooled database connection before it is answered
    # 503 with Retry-After (a database outage, or every connection busy): an overloaded or
    # unreachable database gets a quick, retryable answer instead of a 30 s hang and a 500.
    api_database_wait_seconds: float = Field(default=5.0, gt=0, le=300)
    # /metrics is rendered at most once per this many seconds per API process, with one
    # computation in flight; every request in between gets that text. 0: on every request
    # (still one at a time).
    metrics_cache_seconds: float = Field(default=5.0, ge=0, le=3_600)
    # When set, /metrics answers only `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise):
    # its deployment-wide counts show other tenants' activity. Empty: anonymous, as before.
    metrics_token: SecretStr = Field(default=SecretStr(""))
    # Slow clients (app/api/server.py): seconds a connection has to deliver a complete request
    # head (from when the server waits for one; bytes trickling in do not extend it), and the
    # connections the API keeps open at once (one more gets 503 and is closed).
    api_head_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    api_max_connections: int = Field(default=1_000, ge=1, le=100_000)
    # Addresses of the TLS-terminating proxies whose X-Forwarded-Proto/-For the API believes
    # (comma-separated IPs or networks, or "*"): uvicorn's FORWARDED_ALLOW_IPS, same name.
    forwarded_allow_ips: str = "127.0.0.1,::1"
    # Per-tenant quotas (issue 10, H3), counted in PostgreSQL so they hold across every API
    # process and worker (app/services/quotas.py). Schedules stored (any state): a create or
    # register beyond it answers 429.
    scheduler_tenant_max_schedules: int = Field(default=10_000, ge=1, le=10_000_000)
    # Runs created per minute (sliding window) by manual runs, backfills and the dispatcher's
    # catch-up of misfired slots; a schedule's regular on-time fires do not count. A request
    # beyond it answers 429; catch-up beyond it is recorded `missed` with a note.
    scheduler_tenant_max_runs_per_minute: int = Field(default=10_000, ge=1, le=10_000_000)
    # Runs of one tenant `running` at once (including runs dispatched ahead of their instant):
    # the workers leave the rest pending and start them a second later; manual runs and
    # backfills answer 429 while the tenant is at it. The default leaves room for SPEC §4's
    # 10,000 runs at one instant (and the next instant's, dispatched ahead) in one tenant.
    scheduler_tenant_max_runs_in_flight: int = Field(default=20_000, ge=1, le=10_000_000)
    # Requests a worker process has in flight to any one origin (scheme, host, port) of a
    # schedule's own targetUrl, so one slow or silent target cannot take the whole HTTP client
    # (concurrency × 100 requests); requests beyond it wait for their origin's slot, within
    # their attempt's timeout. The default target (SCHEDULER_TARGET_URL) is not capped.
    scheduler_origin_connections: int = Field(default=100, ge=1, le=100_000)
    # Sends to the default target at once per worker process: a crowded instant goes out
    # sooner and cheaper over fewer connections. A send slower than worker/releaser.py's
    # ESCAPE_SECONDS stops counting, so a slow endpoint gets this many new sends per that time
    # (raise it for an endpoint slower than that under crowds). 0: no such bound.
    scheduler_target_connections: int = Field(default=100, ge=0, le=100_000)

    # Alerts (issue 12, docs/alerts.md). E-mail channels send through SMTP_URL
    # (smtp://user:password@host:port, STARTTLS when the server offers it; smtps:// for TLS
    # from the first byte); unset, their deliveries wait (retried) until it is set.
    smtp_url: SecretStr = Field(default=SecretStr(""))
    smtp_from: str = Field(default="workflow-scheduler@localhost", max_length=254)
    # A failed delivery is tried again after base × 2^(attempt-1) seconds (±20 %, at most an
    # hour) until it is older than `give_up`; then it is `failed`. The senders look for due
    # deliveries every `send_interval` seconds. Lower them only in tests.
    scheduler_alert_retry_base_seconds: float = Field(default=10.0, gt=0, le=3_600)
    scheduler_alert_give_up_seconds: float = Field(default=86_400.0, gt=0, le=30 * 86_400)
    scheduler_alert_send_interval: float = Field(default=1.0, gt=0, le=60)

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value():
            problem = smtp_url_problem(value.get_secret_value())
            if problem:
                raise ValueError(problem)  # the problem never quotes the URL (a password)
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("database_read_url")
    @classmethod
    def _read_url(cls, value: str | None) -> str | None:
        """Empty is unset (a compose file's `DATABASE_READ_URL=`)."""
        return cls._postgres_url(value) if value else None

    @field_validator("scheduler_public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL (the API's public address)")
        return value.rstrip("/") if value else None

    @property
    def public_url(self) -> str:
        """Where workflows reach the API (SCHEDULER_PUBLIC_URL, else this machine's API)."""
        return self.scheduler_public_url or f"http://localhost:{self.api_port}"

    @property
    def alert_policy(self) -> AlertPolicy:
        """What the writers of incidents need: the flapping bound, the dashboard's address."""
        return AlertPolicy(self.scheduler_alert_min_interval, self.public_url)

    @field_validator("scheduler_target_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        if "@" in value.split("/", 3)[2]:
            raise ValueError(
                "holds credentials (user:password@), which the worker never sends: targets "
                "authenticate the scheduler by INTERNAL_API_SECRET and the signature"
            )
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, value: str) -> str:
        # A typo would make uvicorn trust nobody (or a literal it never sees), silently.
        for entry in (e.strip() for e in value.split(",")):
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address, a network or *") from None
        return value

    def require_signing_secret(self) -> None:
        """Start-up check of the processes that sign or serve (API, worker): raise ConfigError
        naming INTERNAL_API_SECRET when it is unset or too short to be a key (M7: an empty
        secret used to mean unsigned deliveries, silently)."""
        secret = self.internal_api_secret.get_secret_value()
        if not secret:
            raise ConfigError(
                "INTERNAL_API_SECRET is not set: every delivery is signed with it; set it to a "
                f"random value of at least {MIN_SECRET_BYTES} characters (e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)",
                field="INTERNAL_API_SECRET",
            )
        if len(signing_key(secret)) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"INTERNAL_API_SECRET is too short: use at least {MIN_SECRET_BYTES} random "
                "characters (a whsec_ key: at least that many bytes before base64)",
                field="INTERNAL_API_SECRET",
            )

    @property
    def target_allowlist(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.scheduler_target_allowlist.split(",") if p.strip())


def secret_problem(secret: str) -> str | None:
    """Why `secret` cannot sign deliveries, or None when it can."""
    if not secret.strip():
        return f"is empty: set a random value of at least {MIN_SECRET_BYTES} characters"
    if secret.strip().lower() in PLACEHOLDER_SECRETS:
        return "is a published placeholder, not a secret: set a random value"
    if secret != secret.strip():
        return "has leading or trailing spaces (a quoting mistake?)"
    try:
        key = signing_key(secret)
    except ConfigError:
        key = b""
    if not key:
        return (
            "starts with 'whsec_' but the rest is not a valid base64 key: use a whsec_ key "
            "exactly as generated, or a secret without that prefix"
        )
    return None


def load_settings(**overrides: object) -> Settings:
    """Read the environment; raise ConfigError naming the variable on a bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{str(err['loc'][0]).upper()}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None
