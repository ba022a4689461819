"""One error tree for the whole service.

Each exception's docstring is its default message. The API maps the tree to HTTP in one place
(`app.api.errors`); everything else raises these and never thinks about status codes.
"""

from __future__ import annotations


class SchedulerError(Exception):
    """Something went wrong in the scheduler."""

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.field = field
        super().__init__(self.message)


class ValidationFailed(SchedulerError):
    """The request is not valid."""


class InvalidCron(ValidationFailed):
    """The cron expression is not valid."""

    def __init__(self, message: str | None = None, *, field: str | None = "cronExpression") -> None:
        super().__init__(message, field=field)


class NeverFires(InvalidCron):
    """The cron expression never fires."""


class UnknownTimezone(ValidationFailed):
    """The time zone is not a known IANA time zone."""

    def __init__(self, message: str | None = None, *, field: str | None = "timezone") -> None:
        super().__init__(message, field=field)


class NotFound(SchedulerError):
    """The resource does not exist."""


class ScheduleNotFound(NotFound):
    """No schedule with that id."""

    @classmethod
    def with_id(cls, schedule_id: object) -> ScheduleNotFound:
        """The error for a schedule id the caller's tenant has no schedule with."""
        return cls(f"no schedule with id {schedule_id}")


class ExecutionNotFound(NotFound):
    """No execution with that id."""


class IncidentNotFound(NotFound):
    """No such incident (of this tenant)."""


class AlertChannelNotFound(NotFound):
    """No alert channel with that id."""


class Conflict(SchedulerError):
    """The request conflicts with the current state of the resource."""


class VersionMismatch(Conflict):
    """The schedule was changed since you read it: fetch it again and retry with its new version."""


class MigrationLocked(SchedulerError):
    """A migration could not take the table locks it needs in time: nothing of it was applied."""


class QuotaExceeded(SchedulerError):
    """A per-tenant quota is used up: retry later."""

    def __init__(self, message: str, *, limit: str, retry_after: int) -> None:
        super().__init__(message)
        self.limit = limit  # the environment variable that sets it
        self.retry_after = max(1, retry_after)  # whole seconds; never "Retry-After: 0"


class Unauthorized(SchedulerError):
    """A valid bearer token is required: send 'Authorization: Bearer <token>'."""


class ConfigError(SchedulerError):
    """The configuration is not valid."""
