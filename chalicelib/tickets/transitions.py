"""Moving a ticket through the state machine: one write transaction that checks who asks
and which version they read, updates the row, and records the event."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from datetime import datetime

from chalicelib.audit.events import INSERT_EVENT
from chalicelib.storage import db
from chalicelib.tickets import events as ticket_events
from chalicelib.tickets.model import Ticket
from chalicelib.tickets.rows import read_row_to_change, row_to_ticket
from chalicelib.tickets.states import TicketState, check_transition, decode_state, encode_state
from chalicelib.timestamps import next_timestamp, utc_now

# A move's update: only if the row is as it was read (its version, which every change
# moves on).
UPDATE_STATE = "UPDATE tickets SET state = ?, updated_at = ? WHERE id = ? AND updated_at = ?"


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

    The ticket is read and checked first (its owner, its version, the state machine), so a
    refused move never waits for the write lock. Then, in one write transaction, the row is
    updated if it is still as read, else read and checked again there, and the event is
    recorded: only statements compiled before the turn run in it, and the next writer waits
    for no read. Raises `TicketNotFound`, `Forbidden`, `StaleTicket`, `InvalidTransition`.
    """
    row = read_row_to_change(conn, ticket_id, owner=owner, expected_versions=expected_versions)
    # Only the new state's kind is checked; it is made again under the lock, at the time
    # read there.
    current = _allowed(row, new_state(utc_now()))
    with db.transaction(conn, prepared=(UPDATE_STATE, INSERT_EVENT)):
        # The time is read under the write lock, so events are stamped in commit order.
        state = new_state(utc_now())
        # The event's time is the moment the state records, so the log rebuilds it exactly.
        at = state.entered_at() or utc_now()
        new_version = _set_state(conn, row, state, at)
        if new_version is None:  # changed since it was read: once more, under the lock
            row = read_row_to_change(
                conn, ticket_id, owner=owner, expected_versions=expected_versions
            )
            current = _allowed(row, state)
            new_version = _set_state(conn, row, state, at)
            assert new_version is not None  # the lock is ours: nobody changed it since
        ticket_events.record_transition(conn, row["id"], current, state, actor=actor, at=at)
    # Built once committed: the next writer need not wait for it.
    return row_to_ticket(row).model_copy(update={"state": state, "version": new_version})


def _allowed(row: sqlite3.Row, state: TicketState) -> TicketState:
    """The ticket's current state, once the state machine allows its move to `state`."""
    current = decode_state(row["state"])
    check_transition(row["id"], current, state)
    return current


def _set_state(
    conn: sqlite3.Connection, row: sqlite3.Row, state: TicketState, at: datetime
) -> str | None:
    """Give the ticket `state` and a new version (returned), if it is still at the version
    `row` has; None, writing nothing, if it has moved on since."""
    version: str = row["updated_at"]
    new_version = next_timestamp(version, at)
    updated = conn.execute(UPDATE_STATE, (encode_state(state), new_version, row["id"], version))
    return new_version if updated.rowcount == 1 else None
