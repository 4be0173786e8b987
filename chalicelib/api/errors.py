"""Errors on the wire: the one JSON shape, the status of every error, and the errors that
only HTTP has (a route or method that does not exist, a body that is not JSON)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from chalicelib import errors as domain
from chalicelib.errors import (
    Forbidden,
    InvalidInput,
    StorageUnavailable,
    TorrentinoError,
    Unauthenticated,
)


class BodyTooLarge(InvalidInput):
    """The body is larger than 1 MiB."""

    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes", field="body")


class UnsupportedMediaType(InvalidInput):
    """A body that is not declared as application/json."""

    code = "unsupported_media_type"

    def __init__(self, content_type: str, accepted: Sequence[str] = ("application/json",)) -> None:
        super().__init__(
            f"request body must be sent as {' or '.join(accepted)}, not {content_type!r}",
            field="Content-Type",
        )


class RouteNotFound(TorrentinoError):
    """No API route has this path."""

    code = "route_not_found"

    def __init__(self, path: str) -> None:
        super().__init__(f"no API route at {path!r}; the API lives under /api/v1/")


class MethodNotAllowed(TorrentinoError):
    """The route exists but not with this HTTP method."""

    code = "method_not_allowed"

    def __init__(self, method: str, path: str, allowed: str) -> None:
        super().__init__(f"{method} is not allowed on {path}; allowed: {allowed}")
        self.allowed = allowed


class InternalError(TorrentinoError):
    """An unexpected error (details only in the server log)."""

    code = "internal_error"

    def __init__(self) -> None:
        super().__init__("internal error; the server log has the details")


# The one place where errors become HTTP statuses. A subclass not listed has its base's.
# The launcher adds the rows of its own errors (launcher/errors.py), which only it raises.
STATUS: dict[type[TorrentinoError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    domain.TicketNotFound: 404,
    domain.KeyNotFound: 404,
    domain.DestinationNotFound: 404,
    domain.TargetNotFound: 404,
    RouteNotFound: 404,
    MethodNotAllowed: 405,
    domain.InvalidTransition: 409,
    domain.TicketNotPending: 409,
    domain.DestinationTaken: 409,
    domain.DatabaseInUse: 409,
    domain.StaleTicket: 412,
    BodyTooLarge: 413,
    UnsupportedMediaType: 415,
    domain.IdempotencyMismatch: 422,
    domain.BackupUnusable: 422,
    domain.StorageCorrupt: 500,
    InternalError: 500,
    StorageUnavailable: 503,
}


def status_of(error: type[TorrentinoError] | TorrentinoError) -> int:
    """The HTTP status of an error (or error class): its own, or its nearest base's."""
    cls = error if isinstance(error, type) else type(error)
    return next((STATUS[base] for base in cls.__mro__ if base in STATUS), 500)


def error_headers(error: TorrentinoError) -> dict[str, str]:
    """The headers an error's answer carries besides its body."""
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:  # StorageUnavailable, and the launcher's busy answers
        return {"Retry-After": str(retry_after)}
    if isinstance(error, MethodNotAllowed):
        return {"Allow": error.allowed}
    if isinstance(error, Unauthenticated):
        return {"WWW-Authenticate": 'Bearer realm="torrentino"'}
    return {}


class ErrorDetail(BaseModel):
    """One problem with the input."""

    model_config = ConfigDict(frozen=True)

    field: str
    message: str


class ErrorInfo(BaseModel):
    """What went wrong: a stable code, a message naming the culprit, and the details."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    details: list[ErrorDetail]


class ErrorResponse(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "invalid_input",
                        "message": "field 'priority': Input should be a valid integer",
                        "details": [
                            {
                                "field": "priority",
                                "message": "field 'priority': Input should be a valid integer",
                            }
                        ],
                    }
                }
            ]
        },
    )

    error: ErrorInfo

    @classmethod
    def from_error(cls, error: TorrentinoError) -> ErrorResponse:
        """The response body for an error."""
        details = error.details if isinstance(error, InvalidInput) else []
        return cls(
            error=ErrorInfo(
                code=error.code,
                message=error.message,
                details=[ErrorDetail(**detail) for detail in details],
            )
        )
