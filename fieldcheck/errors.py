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
