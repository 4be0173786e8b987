"""Ticket storage on SQLite: every change commits together with its audit event."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from chalicelib.paging import cut_page
from chalicelib.storage import db
from chalicelib.tickets import idempotency
from chalicelib.tickets.listing import TicketFilter, TicketPage, count_query, list_query
from chalicelib.tickets.model import CreateTicketRequest, Ticket
from chalicelib.tickets.rows import insert_ticket, read_cursor, read_row, row_to_ticket
from chalicelib.tickets.states import Cancelled, Completed, Failed, TicketState
from chalicelib.tickets.transitions import move_ticket


class SqliteTicketStore:
    """Tickets on the connection it is given (the request's unit of work)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def create(self, request: CreateTicketRequest, *, created_by: str) -> Ticket:
        """Store a new pending ticket and its `ticket_created` event in one transaction."""
        with db.transaction(self.conn):
            return insert_ticket(self.conn, request, created_by=created_by)

    def create_idempotent(
        self, request: CreateTicketRequest, *, created_by: str, key: str
    ) -> tuple[Ticket, bool]:
        """Create once per (`created_by`, `key`); return the ticket and whether it is a replay
        (see `idempotency.create_once`). Raises `IdempotencyMismatch`."""
        return idempotency.create_once(self.conn, request, created_by=created_by, key=key)

    def get(self, ticket_id: str) -> Ticket:
        """The ticket with this id; raises `TicketNotFound` (also for a malformed id)."""
        return row_to_ticket(read_row(self.conn, ticket_id))

    def list(self, ticket_filter: TicketFilter) -> list[Ticket]:
        """The filtered page of tickets, in the filter's order; raises `TicketNotFound` for
        an `after` that names no ticket."""
        cursor = (
            None if ticket_filter.after is None else read_cursor(self.conn, ticket_filter.after)
        )
        sql, params = list_query(ticket_filter, cursor)
        # All rows first: a step per row between Python work waits for the GIL each time.
        return [row_to_ticket(row) for row in self.conn.execute(sql, params).fetchall()]

    def count(self, ticket_filter: TicketFilter) -> int:
        """How many tickets match the filter, ignoring paging."""
        sql, params = count_query(ticket_filter)
        total: int = self.conn.execute(sql, params).fetchone()[0]
        return total

    def page(self, ticket_filter: TicketFilter) -> TicketPage:
        """A page and its total, read from one snapshot so they agree; raises
        `TicketNotFound` for an `after` that names no ticket."""
        with db.transaction(self.conn, write=False):
            tickets = self.list(ticket_filter.model_copy(update={"limit": ticket_filter.limit + 1}))
            total = self.count(ticket_filter)
        shown, last = cut_page(tickets, ticket_filter.limit)
        return TicketPage(
            tickets=shown,
            total=total,
            limit=ticket_filter.limit,
            offset=ticket_filter.offset,
            next_after=None if last is None else last.id,
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

    def cancel(
        self,
        ticket_id: str,
        *,
        cancelled_by: str,
        reason: str | None,
        owner: str | None = None,
        expected_versions: Collection[str] | None = None,
    ) -> Ticket:
        """Cancel a ticket (it stays, in the cancelled state); see `move_ticket`."""
        return move_ticket(
            self.conn,
            ticket_id,
            lambda now: Cancelled(cancelled_by=cancelled_by, reason=reason, cancelled_at=now),
            actor=cancelled_by,
            owner=owner,
            expected_versions=expected_versions,
        )

    def complete(
        self, ticket_id: str, *, actor: str, expected_versions: Collection[str] | None = None
    ) -> Ticket:
        """Mark a ticket completed; see `move_ticket`."""
        return move_ticket(
            self.conn,
            ticket_id,
            lambda now: Completed(completed_at=now),
            actor=actor,
            expected_versions=expected_versions,
        )

    def fail(
        self,
        ticket_id: str,
        *,
        error: str,
        actor: str,
        expected_versions: Collection[str] | None = None,
    ) -> Ticket:
        """Mark a ticket failed with `error`; see `move_ticket`."""
        return move_ticket(
            self.conn,
            ticket_id,
            lambda now: Failed(error=error, failed_at=now),
            actor=actor,
            expected_versions=expected_versions,
        )
