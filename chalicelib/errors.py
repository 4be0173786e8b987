"""The domain's errors: small, named for what went wrong, free of HTTP.

How each becomes an HTTP status is decided in one place, `chalicelib.api.errors`.
"""

from __future__ import annotations

from pathlib import Path


class TorrentinoError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(TorrentinoError):
    """Invalid input: the message names the offending field or parameter."""

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
    """No ticket has the given id (a malformed id too; for a list, the `after` cursor's)."""

    code = "ticket_not_found"

    def __init__(self, ticket_id: str, *, parameter: str | None = None) -> None:
        where = f"query parameter {parameter!r}: " if parameter else ""
        super().__init__(f"{where}ticket {ticket_id!r} not found", field=parameter or "id")
        self.ticket_id = ticket_id


class InvalidTransition(TorrentinoError):
    """The state machine does not allow this transition (the ticket is terminal)."""

    code = "invalid_transition"

    def __init__(self, ticket_id: str, from_state: str, to_state: str) -> None:
        verb = "cancelled" if to_state == "cancelled" else f"moved to {to_state}"
        super().__init__(
            f"ticket {ticket_id!r} is {from_state} and cannot be {verb}", field="state"
        )
        self.ticket_id = ticket_id
        self.from_state = from_state
        self.to_state = to_state


class TicketNotPending(TorrentinoError):
    """Only a pending ticket can be edited, and this one is no longer pending."""

    code = "ticket_not_pending"

    def __init__(self, ticket_id: str, state: str) -> None:
        super().__init__(
            f"ticket {ticket_id!r} is no longer pending (it is {state}) and cannot be edited",
            field="state",
        )
        self.ticket_id = ticket_id
        self.state = state


class StaleTicket(TorrentinoError):
    """If-Match names a version the ticket no longer has (someone changed it since)."""

    code = "precondition_failed"

    def __init__(self, ticket_id: str) -> None:
        super().__init__(
            f"ticket {ticket_id!r} has changed since the version given in If-Match; "
            "read it again and retry",
            field="If-Match",
        )
        self.ticket_id = ticket_id


class Unauthenticated(TorrentinoError):
    """API keys exist and the request has no valid one."""

    code = "unauthorized"


class Forbidden(TorrentinoError):
    """The caller's role does not allow this."""

    code = "forbidden"


class IdempotencyMismatch(TorrentinoError):
    """The Idempotency-Key was already used for a different request."""

    code = "idempotency_key_reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for a different request; "
            "use a new key for a new ticket",
            field="Idempotency-Key",
        )


class KeyNotFound(TorrentinoError):
    """No API key has the given id."""

    code = "key_not_found"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no API key with id {key_id!r}", field="key_id")


class DestinationNotFound(TorrentinoError):
    """No destination has the given id."""

    code = "destination_not_found"

    def __init__(self, destination_id: str) -> None:
        super().__init__(f"no destination with id {destination_id!r}", field="destination_id")


class DestinationTaken(TorrentinoError):
    """Another destination already has this name or root."""

    code = "destination_exists"


class TargetNotFound(TorrentinoError):
    """No notification target of the caller's has the given id."""

    code = "notification_target_not_found"

    def __init__(self, target_id: str) -> None:
        super().__init__(f"no notification target with id {target_id!r}", field="id")


class StorageUnavailable(TorrentinoError):
    """The database is busy (see Retry-After), read-only, full or missing."""

    code = "storage_unavailable"

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageCorrupt(TorrentinoError):
    """The database is damaged, not torrentino's, or from a newer torrentino."""

    code = "storage_corrupt"


class BackupFailed(StorageUnavailable):
    """A backup could not be taken; nothing was published and old backups are untouched."""

    code = "backup_failed"


class UpgradeFailed(StorageUnavailable):
    """Upgrading the database's schema failed, or the backup to take first did: the
    database is as it was, and torrentino does not serve it until the cause is fixed."""


class BackupInProgress(StorageUnavailable):
    """Another backup into the same directory is running."""

    code = "backup_in_progress"

    def __init__(self, backup_dir: Path, *, retry_after: int) -> None:
        super().__init__(
            f"a backup into {backup_dir} is already being taken; retry when it has finished",
            retry_after=retry_after,
        )


class DatabaseInUse(TorrentinoError):
    """A process has the database open, so it cannot be replaced now."""

    code = "database_in_use"


class BackupUnusable(TorrentinoError):
    """A backup file that must not be restored, with every reason found."""

    code = "backup_unusable"

    def __init__(self, backup: Path, problems: list[str]) -> None:
        super().__init__(f"{backup} cannot be restored: {'; '.join(problems)}")
        self.problems = problems
