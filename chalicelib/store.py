"""Ticket persistence: the `TicketStore` interface and its SQLite implementation."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from chalicelib import audit, db
from chalicelib.audit import AuditEvent, AuditEventType, AuditFilter
from chalicelib.errors import StaleTicket, TicketNotFound
from chalicelib.ticket import (
    Cancelled,
    CreateTicketRequest,
    Pending,
    QueryContext,
    Ticket,
    TicketFilter,
    TicketState,
    canonical_ticket_id,
    check_transition,
    decode_state,
    encode_state,
    format_timestamp,
    new_ticket_id,
    next_timestamp,
    utc_now,
)


class TicketPage(BaseModel):
    """One page of tickets plus the total that matches the filter."""

    model_config = ConfigDict(frozen=True)

    tickets: list[Ticket]
    total: int
    limit: int
    offset: int


class AuditPage(BaseModel):
    """One page of audit events plus the total that matches the filter."""

    model_config = ConfigDict(frozen=True)

    events: list[AuditEvent]
    total: int
    limit: int
    offset: int


class TicketStore(Protocol):
    """What the service needs from ticket storage."""

    def create(self, request: CreateTicketRequest, *, created_by: str) -> Ticket:
        """Store a new pending ticket and its `ticket_created` event."""
        ...

    def get(self, ticket_id: str) -> Ticket:
        """The ticket with this id; raises `TicketNotFound`."""
        ...

    def list(self, flt: TicketFilter) -> list[Ticket]:
        """The filtered page of tickets, in queue order."""
        ...

    def count(self, flt: TicketFilter) -> int:
        """How many tickets match the filter, ignoring paging."""
        ...

    def update_state(
        self,
        ticket_id: str,
        new_state: TicketState,
        *,
        actor: str,
        expected_updated_at: str | None = None,
    ) -> Ticket:
        """Move a ticket to a new state.

        Raises `TicketNotFound`, `InvalidTransition`, `StaleTicket`.
        """
        ...


_TICKET_COLUMNS = (
    "id, created_at, created_by, state, priority, query_context, dest_path, updated_at"
)
_STATE_TYPE = "json_extract(state, '$.type')"  # must match the index expression exactly
_QUEUE_ORDER = "priority DESC, created_at, id"


def _row_to_ticket(row: sqlite3.Row) -> Ticket:
    return Ticket(
        id=row["id"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        state=decode_state(row["state"]),
        priority=row["priority"],
        query_context=QueryContext.model_validate_json(row["query_context"]),
        dest_path=row["dest_path"],
    )


def _ticket_where(flt: TicketFilter) -> tuple[str, list[Any]]:
    if flt.state is None:
        return "", []
    return f" WHERE {_STATE_TYPE} = ?", [flt.state]


class SqliteTicketStore:
    """`TicketStore` on one SQLite file, opening a connection per call."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self, request: CreateTicketRequest, *, created_by: str) -> Ticket:
        """Store a new pending ticket and its `ticket_created` event in one transaction."""
        now = utc_now()
        ticket = Ticket(
            id=new_ticket_id(),
            created_at=now,
            created_by=created_by,
            state=Pending(),
            priority=request.priority,
            query_context=request.query_context,
            dest_path=request.dest_path,
        )
        stamp = format_timestamp(now)
        context = request.query_context.model_dump(mode="json")
        with db.connect(self.path) as conn, db.transaction(conn):
            conn.execute(
                f"INSERT INTO tickets ({_TICKET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ticket.id,
                    stamp,
                    created_by,
                    encode_state(ticket.state),
                    ticket.priority,
                    json.dumps(context, ensure_ascii=False),
                    ticket.dest_path,
                    stamp,
                ),
            )
            audit.record(
                conn,
                AuditEventType.TICKET_CREATED,
                {
                    "ticket_id": ticket.id,
                    "created_by": created_by,
                    "priority": ticket.priority,
                    "query_context": context,
                    "dest_path": ticket.dest_path,
                },
                actor=created_by,
                at=now,
            )
        return ticket

    def get(self, ticket_id: str) -> Ticket:
        """The ticket with this id; raises `TicketNotFound` (also for a malformed id)."""
        ticket, _ = self.get_versioned(ticket_id)
        return ticket

    def get_versioned(self, ticket_id: str) -> tuple[Ticket, str]:
        """The ticket and its `updated_at` version; raises `TicketNotFound`."""
        with db.connect(self.path) as conn:
            row = _read_row(conn, ticket_id)
        return _row_to_ticket(row), row["updated_at"]

    def list(self, flt: TicketFilter) -> list[Ticket]:
        """The filtered page of tickets, in queue order."""
        with db.connect(self.path) as conn:
            return _list(conn, flt)

    def count(self, flt: TicketFilter) -> int:
        """How many tickets match the filter, ignoring paging."""
        with db.connect(self.path) as conn:
            return _count(conn, flt)

    def page(self, flt: TicketFilter) -> TicketPage:
        """A page and its total, read from one snapshot so they agree."""
        with db.connect(self.path) as conn, db.transaction(conn, write=False):
            tickets = _list(conn, flt)
            total = _count(conn, flt)
        return TicketPage(tickets=tickets, total=total, limit=flt.limit, offset=flt.offset)

    def update_state(
        self,
        ticket_id: str,
        new_state: TicketState,
        *,
        actor: str,
        expected_updated_at: str | None = None,
    ) -> Ticket:
        """Move a ticket to `new_state` through the state machine, with its audit event.

        `expected_updated_at` is the version the caller read; if the ticket has changed
        since, `StaleTicket` is raised instead of overwriting. Raises `TicketNotFound`,
        `InvalidTransition`, `StaleTicket`.
        """
        # The event's time is the moment the state records, so the log rebuilds it exactly.
        now = new_state.entered_at() or utc_now()
        with db.connect(self.path) as conn, db.transaction(conn):
            row = _read_row(conn, ticket_id)
            current_version: str = row["updated_at"]
            if expected_updated_at is not None and expected_updated_at != current_version:
                raise StaleTicket(row["id"])
            current = decode_state(row["state"])
            check_transition(row["id"], current, new_state)
            cursor = conn.execute(
                "UPDATE tickets SET state = ?, updated_at = ? WHERE id = ? AND updated_at = ?",
                (
                    encode_state(new_state),
                    next_timestamp(current_version, now),
                    row["id"],
                    current_version,
                ),
            )
            if cursor.rowcount != 1:  # pragma: no cover - the write lock makes this unreachable
                raise StaleTicket(row["id"])
            _record_transition(conn, row["id"], current, new_state, actor=actor, at=now)
            return _row_to_ticket(row).model_copy(update={"state": new_state})

    def cancel(self, ticket_id: str, *, cancelled_by: str, reason: str | None) -> Ticket:
        """Cancel a ticket; raises `TicketNotFound`, `InvalidTransition`."""
        state = Cancelled(cancelled_by=cancelled_by, reason=reason, cancelled_at=utc_now())
        return self.update_state(ticket_id, state, actor=cancelled_by)


def _read_row(conn: sqlite3.Connection, ticket_id: str) -> sqlite3.Row:
    canonical = canonical_ticket_id(ticket_id)
    row: sqlite3.Row | None = None
    if canonical is not None:
        row = conn.execute(
            f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE id = ?", (canonical,)
        ).fetchone()
    if row is None:
        raise TicketNotFound(ticket_id)
    return row


def _list(conn: sqlite3.Connection, flt: TicketFilter) -> list[Ticket]:
    where, params = _ticket_where(flt)
    rows = conn.execute(
        f"SELECT {_TICKET_COLUMNS} FROM tickets{where} ORDER BY {_QUEUE_ORDER} LIMIT ? OFFSET ?",
        [*params, flt.limit, flt.offset],
    ).fetchall()
    return [_row_to_ticket(row) for row in rows]


def _count(conn: sqlite3.Connection, flt: TicketFilter) -> int:
    # `ticket_counts` is kept by triggers (db migration 3): one lookup at any table size.
    where, params = ("", []) if flt.state is None else (" WHERE state = ?", [flt.state])
    count: int = conn.execute(
        f"SELECT coalesce(sum(tickets), 0) FROM ticket_counts{where}", params
    ).fetchone()[0]
    return count


def _record_transition(
    conn: sqlite3.Connection,
    ticket_id: str,
    previous: TicketState,
    new: TicketState,
    *,
    actor: str,
    at: datetime,
) -> None:
    # The event carries everything needed to rebuild the new state from the log.
    if isinstance(new, Cancelled):
        audit.record(
            conn,
            AuditEventType.TICKET_CANCELLED,
            {
                "ticket_id": ticket_id,
                "cancelled_by": new.cancelled_by,
                "reason": new.reason,
                "previous_state": previous.kind,
            },
            actor=actor,
            at=at,
        )
        return
    audit.record(
        conn,
        AuditEventType.TICKET_STATE_CHANGED,
        {
            "ticket_id": ticket_id,
            "from": previous.kind,
            "to": new.kind,
            "actor": actor,
            "state": new.model_dump(mode="json"),
        },
        actor=actor,
        at=at,
    )


class SqliteAuditLog:
    """Reads the audit log in one SQLite file, opening a connection per call."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def page(self, flt: AuditFilter) -> AuditPage:
        """A page of events, oldest first, and the total that matches."""
        with db.connect(self.path) as conn, db.transaction(conn, write=False):
            events = audit.list_events(conn, flt)
            total = audit.count_events(conn, flt)
        return AuditPage(events=events, total=total, limit=flt.limit, offset=flt.offset)
