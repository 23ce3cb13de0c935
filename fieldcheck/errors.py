"""Domain exceptions, each with a stable code that the API maps to an HTTP status."""

from __future__ import annotations

from typing import Any


class FieldcheckError(Exception):
    """Base of every domain failure; `code` is stable and machine-readable."""

    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationError(FieldcheckError):
    """Input that is well-formed but breaks a domain rule; `errors` is field -> messages."""

    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        errors: dict[str, list[str]] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.errors = errors or {}


class NotFoundError(FieldcheckError):
    code = "not_found"


class ConflictError(FieldcheckError):
    code = "conflict"


class AuthenticationError(FieldcheckError):
    code = "unauthenticated"


class PermissionDeniedError(FieldcheckError):
    code = "forbidden"


class RateLimitedError(FieldcheckError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class InputFileError(ValidationError):
    """A whole uploaded file is unusable (wrong type, corrupt, missing columns)."""

    code = "bad_file"


class MissingColumnsError(InputFileError):
    code = "missing_columns"

    def __init__(self, missing: list[str], found: list[str]) -> None:
        super().__init__(
            f"missing required columns: {', '.join(missing)}; headers found: {', '.join(found)}",
            details={"missing": missing, "found": found},
        )
        self.missing = missing
        self.found = found


class InvalidImageError(ValidationError):
    """An upload that does not decode as the image it claims to be, or breaks a limit."""

    code = "bad_image"


class ConfigurationError(FieldcheckError):
    code = "configuration"


class ServiceUnavailableError(FieldcheckError):
    """A store the request needs is down, cut off or full for now; the same request sent
    again after `retry_after` seconds may succeed. `reason` says what kind of fault."""

    code = "unavailable"
    title = "Service unavailable"
    default_message = "A service the server needs is unavailable; try again later."
    default_retry_after = 30

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int | None = None,
        reason: str | None = None,
    ) -> None:
        retry_after = self.default_retry_after if retry_after is None else retry_after
        details: dict[str, Any] = {"retry_after": retry_after}
        if reason is not None:
            details["reason"] = reason
        super().__init__(message or self.default_message, details=details)
        self.retry_after = retry_after
        self.reason = reason


class DatabaseUnavailableError(ServiceUnavailableError):
    """The database cannot be reached, or the connection broke during the request."""

    code = "database_unavailable"
    title = "Database unavailable"
    # A connection cut during COMMIT may leave the work done: the client resends, and the
    # idempotent requests (client ids, Idempotency-Key) answer with what was stored.
    default_message = (
        "The database could not be reached or the connection broke before the request was "
        "done. Send it again later."
    )
    default_retry_after = 5


class StorageUnavailableError(ServiceUnavailableError):
    """The photo store cannot be reached, answered with an error, timed out or is full."""

    code = "storage_unavailable"
    title = "Photo storage unavailable"
    default_message = "Photo storage is unavailable; the photo was not kept. Try again later."


class QueueUnavailableError(ServiceUnavailableError):
    """The job queue (Redis) cannot be reached; the job was not started."""

    code = "queue_unavailable"
    title = "Job queue unavailable"
    default_message = "The job queue cannot be reached; nothing was started. Try again later."
    default_retry_after = 10


class RedisUnavailableError(ServiceUnavailableError):
    """Redis (the login rate limiter's counters, the job queue) cannot be reached."""

    code = "redis_unavailable"
    title = "Shared state unavailable"
    default_message = (
        "The server's shared state (Redis) cannot be reached; nothing was done. Try again later."
    )
    default_retry_after = 10
