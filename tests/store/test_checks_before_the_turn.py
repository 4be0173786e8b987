"""A move reads and checks its ticket before it waits for the write lock, and a create its
destination; a change that lands in between is seen under the lock, and the move is
checked again against it.

The moving connection pauses between its read and its turn (as it compiles `BEGIN
IMMEDIATE`, the last thing before the turn) while another connection changes the ticket.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.destinations.store import (
    CreateDestinationRequest,
    add_destination,
    require_inside,
)
from chalicelib.errors import InvalidInput, InvalidTransition, StaleTicket
from chalicelib.service.unit_of_work import open_storage
from chalicelib.tickets.model import CreateTicketRequest, QueryContext, Ticket
from chalicelib.tickets.patch import UpdateTicketRequest
from chalicelib.tickets.store import SqliteTicketStore

REQUEST = CreateTicketRequest(
    priority=10,
    query_context=QueryContext(tags=["music"], description="Abbey Road"),
    dest_path="/media/music",
)


class PausesBeforeItsTurn(sqlite3.Connection):
    """A plain sqlite3 connection that, about to take its turn on the write lock, says so and
    waits to be let go."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting = threading.Event()
        self.go = threading.Event()

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        if sql == "BEGIN IMMEDIATE":
            self.waiting.set()
            assert self.go.wait(10)
        return super().executemany(sql, parameters)


def move_while_changed(
    db_path: Path,
    move: Callable[[SqliteTicketStore], Ticket],
    change: Callable[[SqliteTicketStore], object],
) -> Ticket | Exception:
    """Run `move` on its own connection; `change`, on another, once the move has read the
    ticket and before its turn. Return what the move returned or raised."""
    conn = sqlite3.connect(
        db_path, isolation_level=None, factory=PausesBeforeItsTurn, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    outcome: list[Ticket | Exception] = []

    def moving() -> None:
        try:
            outcome.append(move(SqliteTicketStore(conn)))
        except Exception as error:  # handed to the test to check
            outcome.append(error)

    thread = threading.Thread(target=moving, daemon=True)
    thread.start()
    try:
        assert conn.waiting.wait(10), f"the move never came to its turn: {outcome}"
        with open_storage(db_path) as other:
            change(other.tickets)
    finally:
        conn.go.set()
        thread.join(10)
        conn.close()
    assert not thread.is_alive()
    return outcome[0]


def events(db_path: Path, ticket_id: str) -> list[str]:
    with open_storage(db_path) as storage:
        rows = storage.connection.execute(
            "SELECT event_type FROM audit_events WHERE ticket_id = ? ORDER BY id", (ticket_id,)
        )
        return [row[0] for row in rows]


@pytest.fixture
def ticket(db_path: Path) -> Ticket:
    with open_storage(db_path) as storage:
        return storage.tickets.create(REQUEST, created_by="alice")


def test_a_change_between_the_read_and_the_turn_is_moved_on_from(
    db_path: Path, ticket: Ticket
) -> None:
    edited: list[Ticket] = []
    moved = move_while_changed(
        db_path,
        lambda tickets: tickets.cancel(ticket.id, cancelled_by="alice", reason="no"),
        lambda tickets: edited.append(
            tickets.edit(ticket.id, UpdateTicketRequest(priority=99), actor="alice")[0]
        ),
    )
    assert isinstance(moved, Ticket)
    # The answer is the ticket as it now is: the edit kept, then cancelled.
    assert moved.priority == 99
    assert moved.state.kind == "cancelled"
    assert moved.version > edited[0].version > ticket.version
    with open_storage(db_path) as storage:
        assert storage.tickets.get(ticket.id) == moved
    assert events(db_path, ticket.id) == ["ticket_created", "ticket_updated", "ticket_cancelled"]


def test_a_move_that_expected_the_version_read_is_stale_once_it_changed(
    db_path: Path, ticket: Ticket
) -> None:
    moved = move_while_changed(
        db_path,
        lambda tickets: tickets.cancel(
            ticket.id, cancelled_by="alice", reason=None, expected_versions=[ticket.version]
        ),
        lambda tickets: tickets.edit(ticket.id, UpdateTicketRequest(priority=99), actor="alice"),
    )
    assert isinstance(moved, StaleTicket)
    with open_storage(db_path) as storage:
        stored = storage.tickets.get(ticket.id)
    assert (stored.state.kind, stored.priority) == ("pending", 99)
    assert events(db_path, ticket.id) == ["ticket_created", "ticket_updated"]


def test_a_move_the_change_made_impossible_is_refused_and_writes_nothing(
    db_path: Path, ticket: Ticket
) -> None:
    moved = move_while_changed(
        db_path,
        lambda tickets: tickets.cancel(ticket.id, cancelled_by="alice", reason=None),
        lambda tickets: tickets.complete(ticket.id, actor="admin"),
    )
    assert isinstance(moved, InvalidTransition)
    with open_storage(db_path) as storage:
        assert storage.tickets.get(ticket.id).state.kind == "completed"
    assert events(db_path, ticket.id) == ["ticket_created", "ticket_state_changed"]


def test_a_refused_move_never_waits_for_the_write_lock(db_path: Path, ticket: Ticket) -> None:
    with open_storage(db_path) as storage:
        storage.tickets.complete(ticket.id, actor="admin")
    conn = sqlite3.connect(db_path, isolation_level=None, factory=PausesBeforeItsTurn)
    conn.row_factory = sqlite3.Row
    conn.go.set()
    try:
        with pytest.raises(InvalidTransition):
            SqliteTicketStore(conn).cancel(ticket.id, cancelled_by="alice", reason=None)
        assert not conn.waiting.is_set()
    finally:
        conn.close()


def test_a_create_outside_the_destinations_never_waits_for_the_write_lock(
    db_path: Path,
) -> None:
    with open_storage(db_path) as storage:
        add_destination(
            storage.connection,
            CreateDestinationRequest(name="films", root="/media/films"),
            actor="admin",
        )
    conn = sqlite3.connect(db_path, isolation_level=None, factory=PausesBeforeItsTurn)
    conn.row_factory = sqlite3.Row
    conn.go.set()
    try:
        with pytest.raises(InvalidInput, match="films"):
            SqliteTicketStore(conn, require_inside).create(REQUEST, created_by="alice")
        assert not conn.waiting.is_set()
        inside = REQUEST.model_copy(update={"dest_path": "/media/films/x"})
        SqliteTicketStore(conn, require_inside).create(inside, created_by="alice")
        assert conn.waiting.is_set()
    finally:
        conn.close()
