"""Ticket storage on SQLite: every change commits together with its audit event."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from chalicelib.paging import PageQuery, read_page
from chalicelib.storage import db
from chalicelib.tickets import idempotency
from chalicelib.tickets.edits import EditsTickets
from chalicelib.tickets.listing import TicketFilter, TicketPage, count_query, list_query
from chalicelib.tickets.model import CreateTicketRequest, Ticket
from chalicelib.tickets.rows import (
    PAGE_COLUMNS,
    TICKET_COLUMNS,
    PathCheck,
    checked_new_ticket,
    read_cursor,
    read_json,
    read_row,
    row_to_ticket,
    write_ticket,
)
from chalicelib.tickets.states import STATE_CLASSES, TicketState
from chalicelib.tickets.transitions import move_ticket


def _select(
    conn: sqlite3.Connection, ticket_filter: TicketFilter, columns: str = TICKET_COLUMNS
) -> sqlite3.Cursor:
    """The filter's tickets, a page of them (`after` raises `TicketNotFound`)."""
    after = ticket_filter.after
    cursor = None if after is None else read_cursor(conn, after)
    return conn.execute(*list_query(ticket_filter, cursor, columns))


class Checks(TypedDict, total=False):
    """What a move checks first: the ticket's creator, and its version (see `move_ticket`)."""

    owner: str | None
    expected_versions: Collection[str] | None


@dataclass(frozen=True)
class SqliteTicketStore(EditsTickets):
    """Tickets on the connection it is given (the request's unit of work), edits included."""

    conn: sqlite3.Connection
    check_path: PathCheck | None = None  # where a ticket may go; see `write_ticket`

    def create(self, request: CreateTicketRequest, *, created_by: str) -> Ticket:
        """Store a new pending ticket and its `ticket_created` event in one transaction."""
        new = checked_new_ticket(self.conn, request, created_by, self.check_path)
        with db.transaction(self.conn, prepared=new.statements):
            created_at = write_ticket(self.conn, new, check_path=self.check_path)
        return new.at(created_at)

    def create_idempotent(
        self, request: CreateTicketRequest, *, created_by: str, key: str
    ) -> tuple[Ticket, bool]:
        """Create once per (`created_by`, `key`): see `idempotency.create_once`."""
        return idempotency.create_once(
            self.conn, request, created_by=created_by, key=key, check_path=self.check_path
        )

    def get(self, ticket_id: str) -> Ticket:
        """The ticket with this id; raises `TicketNotFound` (also for a malformed id)."""
        return row_to_ticket(read_row(self.conn, ticket_id))

    def get_json(self, ticket_id: str) -> tuple[str, str]:
        """The JSON of the ticket with this id, byte for byte what `get(ticket_id)` writes
        but made by SQLite (no model is built), and its version; raises `TicketNotFound`
        (also for a malformed id)."""
        return read_json(self.conn, ticket_id)

    def list(self, ticket_filter: TicketFilter) -> list[Ticket]:
        """The filtered page of tickets, in the filter's order; raises `TicketNotFound` for
        an `after` that names no ticket."""
        # All rows first: a step per row between Python work waits for the GIL each time.
        return [row_to_ticket(row) for row in _select(self.conn, ticket_filter).fetchall()]

    def count(self, ticket_filter: TicketFilter) -> int:
        """How many tickets match the filter, ignoring paging."""
        return int(self.conn.execute(*count_query(ticket_filter)).fetchone()[0])

    def page(self, ticket_filter: TicketFilter) -> TicketPage:
        """A page, `limit` tickets or `paging.MAX_PAGE_BYTES` of their JSON, whichever
        comes first, and its total, read from one snapshot so they agree; raises
        `TicketNotFound` for an `after` that names no ticket."""
        limit = ticket_filter.limit
        with db.transaction(self.conn, write=False):
            after = ticket_filter.after
            cursor = None if after is None else read_cursor(self.conn, after)
            more = ticket_filter.model_copy(update={"limit": limit + 1})
            rows = list_query(more, cursor, PAGE_COLUMNS)
            found, total = read_page(self.conn, PageQuery(rows, count_query(ticket_filter)), limit)
        return TicketPage.of_items(
            found,
            total=total,
            limit=limit,
            offset=ticket_filter.offset,
            next_after=found.last,
        )

    def update_state(
        self,
        ticket_id: str,
        new_state: TicketState,
        *,
        actor: str,
        expected_versions: Collection[str] | None = None,
        owner: str | None = None,
    ) -> Ticket:
        """Move a ticket to `new_state`, with its audit event. Only if it still has one of
        the `expected_versions` and, with `owner`, was created by `owner` (`move_ticket`)."""
        return move_ticket(
            self.conn,
            ticket_id,
            lambda _now: new_state,
            actor=actor,
            expected_versions=expected_versions,
            owner=owner,
        )

    def move(
        self,
        ticket_id: str,
        kind: str,
        body: Mapping[str, Any] | None = None,
        *,
        actor: str,
        owner: str | None = None,
        expected_versions: Collection[str] | None = None,
    ) -> Ticket:
        """Move a ticket into the declared state `kind`, made by `actor` now from `body`
        (`TicketState.entered`), with its audit event; see `move_ticket`."""
        state = STATE_CLASSES[kind]
        return move_ticket(
            self.conn,
            ticket_id,
            lambda now: state.entered(actor=actor, at=now, body=body or {}),
            actor=actor,
            expected_versions=expected_versions,
            owner=owner,
        )

    # Today's moves by name: `move` with their states' bodies.

    def cancel(
        self, ticket_id: str, *, cancelled_by: str, reason: str | None, **checks: Unpack[Checks]
    ) -> Ticket:
        """Cancel a ticket (it stays, in the cancelled state); see `move`."""
        return self.move(ticket_id, "cancelled", {"reason": reason}, actor=cancelled_by, **checks)

    def complete(self, ticket_id: str, *, actor: str, **checks: Unpack[Checks]) -> Ticket:
        """Mark a ticket completed; see `move`."""
        return self.move(ticket_id, "completed", actor=actor, **checks)

    def fail(self, ticket_id: str, *, error: str, actor: str, **checks: Unpack[Checks]) -> Ticket:
        """Mark a ticket failed with `error`; see `move`."""
        return self.move(ticket_id, "failed", {"error": error}, actor=actor, **checks)
