"""Moving a ticket through the state machine: one write transaction that checks who asks
and which version they read, updates the row, and records the event."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from datetime import datetime

from chalicelib.storage import db
from chalicelib.tickets import events as ticket_events
from chalicelib.tickets.model import Ticket
from chalicelib.tickets.rows import read_row_to_change, row_to_ticket
from chalicelib.tickets.states import TicketState, check_transition, decode_state, encode_state
from chalicelib.timestamps import next_timestamp, utc_now


def move_ticket(
    conn: sqlite3.Connection,
    ticket_id: str,
    new_state: Callable[[datetime], TicketState],
    *,
    actor: str,
    expected_versions: Collection[str] | None,
    owner: str | None = None,
) -> Ticket:
    """Move a ticket to the state `new_state` builds for the current time, with its event.

    In one write transaction: the ticket is read, its owner and version checked, the state
    machine consulted, the row updated and the event recorded. Raises `TicketNotFound`,
    `Forbidden`, `StaleTicket`, `InvalidTransition`.
    """
    with db.transaction(conn):
        # The time is read under the write lock, so events are stamped in commit order.
        state = new_state(utc_now())
        row = read_row_to_change(conn, ticket_id, owner=owner, expected_versions=expected_versions)
        current_version: str = row["updated_at"]
        current = decode_state(row["state"])
        check_transition(row["id"], current, state)
        # The event's time is the moment the state records, so the log rebuilds it exactly.
        at = state.entered_at() or utc_now()
        new_version = next_timestamp(current_version, at)
        conn.execute(
            "UPDATE tickets SET state = ?, updated_at = ? WHERE id = ?",
            (encode_state(state), new_version, row["id"]),
        )
        ticket_events.record_transition(conn, row["id"], current, state, actor=actor, at=at)
    # Built once committed: the next writer need not wait for it.
    return row_to_ticket(row).model_copy(update={"state": state, "version": new_version})
