"""One typed settings object, read from the environment at the edge and passed down.

Every variable is validated at start-up; a bad value stops the process with the variable's name
in the message (SPEC §8). Tests build their own `Settings(...)`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import ConfigError

DEFAULT_TARGET_URL = "http://localhost:3000/api/workflows/{workflowId}/execute"


class Settings(BaseSettings):
    """The service's configuration. Field names are the environment variables, lower-cased."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/scheduler",
        description="PostgreSQL URL (the only store).",
    )
    redis_url: str | None = Field(default=None, description="Optional cache; never required.")
    internal_api_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer secret and webhook signing key for outbound calls.",
    )
    scheduler_target_url: str = Field(
        default=DEFAULT_TARGET_URL,
        description="Outbound URL; {workflowId} is replaced by the schedule's workflow id.",
    )
    scheduler_target_allowlist: str = Field(
        default="",
        description="Comma-separated URL prefixes a schedule's targetUrl may start with.",
    )
    scheduler_history_retention_days: int = Field(default=30, ge=1, le=36_500)
    scheduler_shutdown_timeout: float = Field(default=25.0, ge=0, le=3_600)
    # Batch jobs a worker process runs at once through Procrastinate; each batch sends up to
    # 100 requests at once. The batches a worker dispatched itself (waiting for their instant)
    # may be 10 times as many; requests in flight stay within concurrency × 100.
    scheduler_worker_concurrency: int = Field(default=10, ge=1, le=1_000)
    # Crash detection: a worker heartbeats every interval; one silent for `stalled_after`
    # seconds is dead and its jobs are run again. Lower them only in tests.
    scheduler_heartbeat_interval: float = Field(default=10.0, gt=0, le=300)
    scheduler_stalled_after: float = Field(default=30.0, gt=0, le=3_600)
    scheduler_maintenance_interval: float = Field(default=5.0, gt=0, le=3_600)
    # Manual runs (trigger and backfill requests) per tenant and API process: a token bucket
    # refilled at `rate` a second holding at most `burst` (app/api/ratelimit.py).
    scheduler_trigger_rate: float = Field(default=10.0, gt=0, le=1_000_000)
    scheduler_trigger_burst: int = Field(default=20, ge=1, le=1_000_000)
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65_535)
    log_format: Literal["json", "console", "auto"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Requests a worker process has in flight to any one origin (scheme, host, port) of a
    # schedule's own targetUrl, so one slow or silent target cannot take the whole HTTP client
    # (concurrency × 100 requests); requests beyond it wait for their origin's slot, within
    # their attempt's timeout. The default target (SCHEDULER_TARGET_URL) is not capped.
    scheduler_origin_connections: int = Field(default=100, ge=1, le=100_000)

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("scheduler_target_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @property
    def target_allowlist(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.scheduler_target_allowlist.split(",") if p.strip())


def load_settings(**overrides: object) -> Settings:
    """Read the environment; raise ConfigError naming the variable on a bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(f"{str(err['loc'][0]).upper()}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None
