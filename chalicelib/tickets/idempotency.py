"""Safe retries of a create or an edit: an `Idempotency-Key` names one request per caller,
for a while; a retry gets the first answer again and changes nothing."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable
from datetime import timedelta

from chalicelib.errors import IdempotencyMismatch
from chalicelib.storage import db
from chalicelib.tickets.model import CreateTicketRequest, Ticket
from chalicelib.tickets.patch import UpdateTicketRequest
from chalicelib.tickets.rows import NewTicket, PathCheck, write_ticket
from chalicelib.timestamps import format_timestamp, utc_now

# Retries with one Idempotency-Key are recognised for at least this long.
IDEMPOTENCY_RETENTION = timedelta(hours=48)
_FORGET_OLD = "DELETE FROM idempotency_keys WHERE created_at < ?"
_REMEMBER = (
    "INSERT INTO idempotency_keys (owner, key, fingerprint, ticket_id, response, version,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def request_fingerprint(request: CreateTicketRequest) -> str:
    """A digest of a create request's meaning (not its whitespace or key order)."""
    return hashlib.sha256(request.model_dump_json().encode("utf-8")).hexdigest()


def edit_fingerprint(ticket_id: str, patch: UpdateTicketRequest) -> str:
    """A digest of an edit's meaning: which ticket, and the fields it sets. It can never
    equal a create's, so a key used for one is refused for the other."""
    text = f"PATCH {ticket_id.lower()} {patch.model_dump_json(exclude_unset=True)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def create_once(
    conn: sqlite3.Connection,
    request: CreateTicketRequest,
    *,
    created_by: str,
    key: str,
    check_path: PathCheck | None = None,
) -> tuple[Ticket, bool]:
    """Create once per (`created_by`, `key`); return the ticket and whether it is a replay.

    A retry with the same key and the same request returns the ticket as first
    created and writes nothing. Raises `IdempotencyMismatch` if the key was used
    for a different request.
    """
    new = NewTicket.of(request, created_by=created_by)
    return once(
        conn,
        owner=created_by,
        key=key,
        fingerprint=request_fingerprint(request),
        change=lambda: new.at(write_ticket(conn, new, check_path=check_path)),
        prepared=new.statements,
    )


def once(
    conn: sqlite3.Connection,
    *,
    owner: str,
    key: str,
    fingerprint: str,
    change: Callable[[], Ticket],
    prepared: Iterable[str] = (),
) -> tuple[Ticket, bool]:
    """Make `change` (inside this write transaction) once per (`owner`, `key`); return the
    ticket it answered and whether this is a replay of it.

    A retry with the same key and fingerprint returns the ticket as first answered, with
    its version then, and writes nothing. Raises `IdempotencyMismatch` if the key was used
    for a different request, and whatever `change` raises (then nothing is kept). The
    `prepared` statements are those `change` runs that change rows (`db.transaction`).
    """
    with db.transaction(conn, prepared=(_FORGET_OLD, _REMEMBER, *prepared)):
        now = utc_now()
        conn.execute(_FORGET_OLD, (format_timestamp(now - IDEMPOTENCY_RETENTION),))
        row = conn.execute(
            "SELECT fingerprint, response, version FROM idempotency_keys"
            " WHERE owner = ? AND key = ?",
            (owner, key),
        ).fetchone()
        if row is not None:
            if row["fingerprint"] != fingerprint:
                raise IdempotencyMismatch(key)
            original = Ticket.model_validate_json(row["response"])
            return original.model_copy(update={"version": row["version"]}), True
        ticket = change()
        conn.execute(
            _REMEMBER,
            (
                owner,
                key,
                fingerprint,
                ticket.id,
                ticket.model_dump_json(),
                ticket.version,
                format_timestamp(now),
            ),
        )
        return ticket, False
