"""A ticket write compiles the statements that change rows before it takes its turn on the
write lock (`db.transaction(prepared=...)`), so none is compiled while other writers wait.

The statements a write names are checked against those it runs: a statement changed in
one place and not the other would quietly be compiled under the lock again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.destinations.store import (
    CreateDestinationRequest,
    add_destination,
    require_inside,
)
from chalicelib.storage import db
from chalicelib.tickets.model import CreateTicketRequest, QueryContext
from chalicelib.tickets.patch import UpdateTicketRequest
from chalicelib.tickets.store import SqliteTicketStore

CHANGES_ROWS = ("INSERT", "UPDATE", "DELETE")


class Recording(sqlite3.Connection):
    """A plain sqlite3 connection that notes each statement given to it: compiled only
    (`executemany` with no rows, outside a transaction) or run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.compiled: list[str] = []
        self.run: list[str] = []

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        self.run.append(sql)
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        rows = list(parameters)
        if rows:
            self.run.append(sql)
        elif not self.in_transaction:
            self.compiled.append(sql)
        return super().executemany(sql, rows)

    def forget(self) -> None:
        self.compiled.clear()
        self.run.clear()

    def changing_rows(self) -> set[str]:
        """The statements run that change rows."""
        return {sql for sql in self.run if sql.lstrip().upper().startswith(CHANGES_ROWS)}


@pytest.fixture
def conn(db_path: Path) -> Iterator[Recording]:
    connection = sqlite3.connect(db_path, isolation_level=None, factory=Recording)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def tickets(conn: Recording) -> SqliteTicketStore:
    add_destination(
        conn, CreateDestinationRequest(name="music", root="/media/music"), actor="admin"
    )
    return SqliteTicketStore(conn, require_inside)


REQUEST = CreateTicketRequest(
    priority=10,
    query_context=QueryContext(tags=["music", "flac"], description="Abbey Road"),
    dest_path="/media/music/beatles",
)


def _new(tickets: SqliteTicketStore) -> str:
    return tickets.create(REQUEST, created_by="alice").id


WRITES: dict[str, Callable[[SqliteTicketStore, str], object]] = {
    "create": lambda t, _: t.create(REQUEST, created_by="alice"),
    "create, idempotent": lambda t, _: t.create_idempotent(REQUEST, created_by="alice", key="k"),
    "cancel": lambda t, i: t.cancel(i, cancelled_by="alice", reason="no"),
    "complete": lambda t, i: t.complete(i, actor="admin"),
    "fail": lambda t, i: t.fail(i, error="gone", actor="admin"),
    "edit priority": lambda t, i: t.edit(i, UpdateTicketRequest(priority=20), actor="alice"),
    "edit everything": lambda t, i: t.edit(
        i,
        UpdateTicketRequest.model_validate(
            {
                "priority": 30,
                "query_context": {"tags": ["flac", "remaster"], "description": "2019"},
                "dest_path": "/media/music/abbey",
            }
        ),
        actor="alice",
    ),
    "edit, idempotent": lambda t, i: t.edit(
        i, UpdateTicketRequest(priority=40), actor="alice", key="k2"
    ),
}


@pytest.mark.parametrize("write", WRITES)
def test_a_write_compiles_every_statement_that_changes_rows_before_its_turn(
    conn: Recording, tickets: SqliteTicketStore, write: str
) -> None:
    ticket_id = _new(tickets)
    conn.forget()

    WRITES[write](tickets, ticket_id)

    changing = conn.changing_rows()
    assert changing, "the write changed nothing"
    assert changing <= set(conn.compiled), changing - set(conn.compiled)
    assert "BEGIN IMMEDIATE" in conn.compiled
    # Compiled and then run: none of them names a statement the write does not run.
    assert set(conn.compiled) - {"BEGIN IMMEDIATE"} <= changing | _unused(write)


def _unused(write: str) -> set[str]:
    # An edit of the tags compiles both tag statements; one that only adds tags runs one.
    if write == "edit everything":
        return {"DELETE FROM ticket_tags WHERE tag = ? AND ticket_id = ?"}
    return set()


def test_prepare_compiles_without_running(db_path: Path) -> None:
    with db.connect(db_path) as conn:
        db.prepare(
            conn,
            [
                "INSERT INTO audit_events (event_type, timestamp, actor, data)"
                " VALUES ('x', 't', 'a', '{}')",
                "BEGIN IMMEDIATE",
            ],
        )
        assert not conn.in_transaction
        assert conn.total_changes == 0
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 0
        # Compiled: a statement that cannot be is refused at once.
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            db.prepare(conn, ["INSERT INTO no_such_table VALUES (?)"])
        # A read cannot be compiled this way; it is refused rather than run.
        with pytest.raises(sqlite3.ProgrammingError):
            db.prepare(conn, ["SELECT count(*) FROM audit_events"])


def test_a_prepared_transaction_rolls_back_and_commits_as_any_other(db_path: Path) -> None:
    insert = (
        "INSERT INTO audit_events (event_type, timestamp, actor, data) VALUES (?, 't', 'a', '{}')"
    )
    with db.connect(db_path) as conn:
        with pytest.raises(RuntimeError), db.transaction(conn, prepared=[insert]):
            conn.execute(insert, ("rolled back",))
            raise RuntimeError("boom")
        with db.transaction(conn, prepared=[insert]):
            conn.execute(insert, ("kept",))
        assert [r[0] for r in conn.execute("SELECT event_type FROM audit_events")] == ["kept"]
