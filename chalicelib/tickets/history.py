"""A ticket's history: its events from the audit log, replayed, with the state after each."""

from __future__ import annotations

import sqlite3

from chalicelib.audit.log import events_of_ticket
from chalicelib.errors import Forbidden, StorageCorrupt
from chalicelib.storage import db
from chalicelib.tickets.events import HistoryError, TicketHistory, history
from chalicelib.tickets.rows import read_row, row_to_ticket


def read_history(
    conn: sqlite3.Connection, ticket_id: str, *, visible_to: str | None = None
) -> TicketHistory:
    """A ticket's events, oldest first, each with the state after it.

    With `visible_to`, only that user's tickets. Raises `TicketNotFound`,
    `Forbidden`, and `StorageCorrupt` if the log does not describe a possible history.
    """
    with db.transaction(conn, write=False):
        ticket = row_to_ticket(read_row(conn, ticket_id))
        if visible_to is not None and ticket.created_by != visible_to:
            raise Forbidden(f"ticket {ticket.id!r} was created by someone else")
        events = events_of_ticket(conn, ticket.id)
    try:
        return history(ticket.id, events)
    except HistoryError as error:
        message = f"the audit log of ticket {ticket.id!r} is inconsistent: {error}"
        raise StorageCorrupt(message) from error
