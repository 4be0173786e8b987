"""A ticket's history: its events from the audit log, replayed, with the state after each."""

from __future__ import annotations

import sqlite3

from chalicelib.audit.log import EVENTS_OF_TICKET, events_from_json
from chalicelib.errors import Forbidden, StorageCorrupt, TicketNotFound
from chalicelib.tickets.events import HistoryError, TicketHistory, history
from chalicelib.tickets.model import canonical_ticket_id
from chalicelib.tickets.rows import TICKET_COLUMNS, row_to_ticket


def read_history(
    conn: sqlite3.Connection, ticket_id: str, *, visible_to: str | None = None
) -> TicketHistory:
    """A ticket's events, oldest first, each with the state after it.

    With `visible_to`, only that user's tickets. Raises `TicketNotFound`,
    `Forbidden`, and `StorageCorrupt` if the log does not describe a possible history.
    """
    # The ticket and its events in one statement: one snapshot, one step.
    canonical = canonical_ticket_id(ticket_id)
    row = None
    if canonical is not None:
        row = conn.execute(
            f"SELECT {TICKET_COLUMNS}, {EVENTS_OF_TICKET} AS events FROM tickets WHERE id = ?",
            (canonical,),
        ).fetchone()
    if row is None:
        raise TicketNotFound(ticket_id)
    ticket = row_to_ticket(row)
    if visible_to is not None and ticket.created_by != visible_to:
        raise Forbidden(f"ticket {ticket.id!r} was created by someone else")
    try:
        return history(ticket.id, events_from_json(row["events"]))
    except HistoryError as error:
        message = f"the audit log of ticket {ticket.id!r} is inconsistent: {error}"
        raise StorageCorrupt(message) from error
