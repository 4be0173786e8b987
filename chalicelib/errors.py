"""The domain's errors: small, named for what went wrong, free of HTTP."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TorrentinoError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(TorrentinoError):
    """A request's input is malformed or out of bounds."""

    code = "invalid_input"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        details: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.details = (
            details
            if details is not None
            else ([{"field": field, "message": message}] if field else [])
        )


class TicketNotFound(TorrentinoError):
    """No ticket has the given id."""

    code = "ticket_not_found"

    def __init__(self, ticket_id: str, *, parameter: str | None = None) -> None:
        where = f"query parameter {parameter!r}: " if parameter else ""
        super().__init__(f"{where}ticket {ticket_id!r} not found", field=parameter or "id")
        self.ticket_id = ticket_id


class InvalidTransition(TorrentinoError):
    """The state machine does not allow moving the ticket to the requested state."""

    code = "invalid_transition"

    def __init__(self, ticket_id: str, from_state: str, to_state: str) -> None:
        verb = "cancelled" if to_state == "cancelled" else f"moved to {to_state}"
        super().__init__(
            f"ticket {ticket_id!r} is {from_state} and cannot be {verb}", field="state"
        )
        self.ticket_id = ticket_id
        self.from_state = from_state
        self.to_state = to_state


class StaleTicket(TorrentinoError):
    """The ticket changed since the caller read it (optimistic lock failed)."""

    code = "precondition_failed"

    def __init__(self, ticket_id: str) -> None:
        super().__init__(
            f"ticket {ticket_id!r} has changed since the version given in If-Match; "
            "read it again and retry",
            field="If-Match",
        )
        self.ticket_id = ticket_id


class Unauthenticated(TorrentinoError):
    """The request carries no valid API key, and the service requires one."""

    code = "unauthorized"


class Forbidden(TorrentinoError):
    """The caller is known but may not do this."""

    code = "forbidden"


class IdempotencyMismatch(TorrentinoError):
    """An Idempotency-Key was reused for a different request."""

    code = "idempotency_key_reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for a different request; "
            "use a new key for a new ticket",
            field="Idempotency-Key",
        )


class StorageUnavailable(TorrentinoError):
    """The database cannot serve the request right now (locked, read-only, full)."""

    code = "storage_unavailable"

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageCorrupt(TorrentinoError):
    """The database file is missing its schema, is not a database, or is damaged."""

    code = "storage_corrupt"


class BodyTooLarge(InvalidInput):
    """The request body is over the size limit."""

    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes", field="body")


class UnsupportedMediaType(InvalidInput):
    """The request body is not declared as JSON."""

    code = "unsupported_media_type"

    def __init__(self, content_type: str) -> None:
        super().__init__(
            f"request body must be sent as application/json, not {content_type!r}",
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
    """Something failed that the service did not expect; details are in the server log."""

    code = "internal_error"

    def __init__(self) -> None:
        super().__init__("internal error; the server log has the details")


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
        """The response body for a domain error."""
        details = error.details if isinstance(error, InvalidInput) else []
        return cls(
            error=ErrorInfo(
                code=error.code,
                message=error.message,
                details=[ErrorDetail(**detail) for detail in details],
            )
        )
