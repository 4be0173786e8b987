"""Safe retries of a create: an `Idempotency-Key` names one create per caller, for a while."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import timedelta

from chalicelib.errors import IdempotencyMismatch
from chalicelib.storage import db
from chalicelib.tickets.model import CreateTicketRequest, Ticket
from chalicelib.tickets.rows import PathCheck, insert_ticket
from chalicelib.timestamps import format_timestamp, utc_now

# Retries with one Idempotency-Key are recognised for at least this long.
IDEMPOTENCY_RETENTION = timedelta(hours=48)


def request_fingerprint(request: CreateTicketRequest) -> str:
    """A digest of a create request's meaning (not its whitespace or key order)."""
    return hashlib.sha256(request.model_dump_json().encode("utf-8")).hexdigest()


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
    fingerprint = request_fingerprint(request)
    with db.transaction(conn):
        now = utc_now()
        conn.execute(
            "DELETE FROM idempotency_keys WHERE created_at < ?",
            (format_timestamp(now - IDEMPOTENCY_RETENTION),),
        )
        row = conn.execute(
            "SELECT fingerprint, response, version FROM idempotency_keys"
            " WHERE owner = ? AND key = ?",
            (created_by, key),
        ).fetchone()
        if row is not None:
            if row["fingerprint"] != fingerprint:
                raise IdempotencyMismatch(key)
            original = Ticket.model_validate_json(row["response"])
            return original.model_copy(update={"version": row["version"]}), True
        ticket = insert_ticket(conn, request, created_by=created_by, check_path=check_path)
        conn.execute(
            "INSERT INTO idempotency_keys (owner, key, fingerprint, ticket_id, response,"
            " version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                created_by,
                key,
                fingerprint,
                ticket.id,
                ticket.model_dump_json(),
                ticket.version,
                format_timestamp(now),
            ),
        )
        return ticket, False
