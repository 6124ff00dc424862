"""Errors with stable codes, shared by the API, the services and the workers.

Every failure a user can see carries a `code` that never changes between releases
(clients branch on it) and a human message that may.
"""

from __future__ import annotations

from typing import Any


class LmsError(Exception):
    """A failure with a stable code, shown to API clients and stored on failed jobs."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class ValidationFailed(LmsError):
    code = "BAD_USER_INPUT"


class NotFound(LmsError):
    code = "NOT_FOUND"


class Unauthenticated(LmsError):
    code = "UNAUTHENTICATED"


class Forbidden(LmsError):
    code = "FORBIDDEN"


class Conflict(LmsError):
    code = "CONFLICT"


class RateLimited(LmsError):
    code = "RATE_LIMITED"


class PermanentJobError(LmsError):
    """The job's input can never succeed: fail at once, no retry."""

    code = "JOB_FAILED"


class TransientJobError(LmsError):
    """A passing failure (network, remote 5xx, lock): retry with backoff."""

    code = "TRANSIENT_FAILURE"
