"""Store level: `chalicelib` (a connection per operation) against plain sqlite3's floor.

The baseline runs the same SQL on one long-lived connection with the same settings
(WAL, `synchronous = FULL`, `BEGIN IMMEDIATE` for writes), so the ratio is the price
of opening a connection per operation plus the domain layer (models, validation).
The same statements on a new connection per operation split that price in two: what
any connection-per-operation design pays, and what our domain code adds to it.
Each database is its own file, so the baseline's open connection cannot keep the
service's WAL alive for it.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import statistics
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bench import loader
from bench.common import Table, per_op_seconds
from chalicelib.audit.events import AuditEventType, record
from chalicelib.service import startup
from chalicelib.service.unit_of_work import open_storage
from chalicelib.storage import db
from chalicelib.tickets.listing import TicketFilter
from chalicelib.tickets.model import CreateTicketRequest, QueryContext
from chalicelib.tickets.patch import UpdateTicketRequest
from chalicelib.tickets.states import Cancelled, encode_state
from chalicelib.tickets.store import SqliteTicketStore
from chalicelib.timestamps import format_timestamp, utc_now

COLUMNS = "id, created_at, created_by, state, priority, query_context, dest_path, updated_at"
STATE_TYPE = "json_extract(state, '$.type')"
QUEUE_ORDER = "priority DESC, created_at, id"
T = TypeVar("T")
# The store's reads against the same SQL on a new connection: at most these ratios.
READ_TARGETS = {"get": 1.1, "list (pending, 50)": 1.5}
REQUEST = CreateTicketRequest(
    priority=100,
    query_context=QueryContext(tags=["music", "flac"], description="Abbey Road by The Beatles"),
    dest_path="/media/music/beatles",
)


class Baseline:
    """The same statements as the store, on the connection it is given."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, path: Path) -> Baseline:
        """The baseline proper: one long-lived connection with the service's settings."""
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        return cls(conn)

    def create(self) -> str:
        ticket_id = self.statements(self.conn)
        self.conn.execute("COMMIT")
        return ticket_id

    @staticmethod
    def statements(conn: sqlite3.Connection) -> str:
        """A create's statements, up to (not including) its COMMIT; returns the id."""
        now = utc_now()
        stamp = format_timestamp(now)
        ticket_id = str(uuid.uuid4())
        context = REQUEST.query_context.model_dump(mode="json")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            f"INSERT INTO tickets ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ticket_id,
                stamp,
                "anonymous",
                '{"type": "pending"}',
                REQUEST.priority,
                json.dumps(context, ensure_ascii=False),
                REQUEST.dest_path,
                stamp,
            ),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO ticket_tags (tag, ticket_id) VALUES (?, ?)",
            [(tag, ticket_id) for tag in REQUEST.query_context.tags],
        )
        data = {
            "ticket_id": ticket_id,
            "created_by": "anonymous",
            "priority": REQUEST.priority,
            "query_context": context,
            "dest_path": REQUEST.dest_path,
        }
        record(conn, AuditEventType.TICKET_CREATED, data, actor="anonymous", at=now)
        return ticket_id

    def get(self, ticket_id: str) -> None:
        self.conn.execute(f"SELECT {COLUMNS} FROM tickets WHERE id = ?", (ticket_id,)).fetchone()

    def page(self, state: str) -> None:
        self.conn.execute("BEGIN")
        self.conn.execute(
            f"SELECT {COLUMNS} FROM tickets WHERE {STATE_TYPE} = ?"
            f" ORDER BY {QUEUE_ORDER} LIMIT ? OFFSET ?",
            (state, 50, 0),
        ).fetchall()
        self.conn.execute(
            "SELECT coalesce(sum(tickets), 0) FROM ticket_counts WHERE state IN (?)", (state,)
        ).fetchone()
        self.conn.execute("COMMIT")

    def edit(self, ticket_id: str, priority: int) -> None:
        now = utc_now()
        self.conn.execute("BEGIN IMMEDIATE")
        row = self.conn.execute(
            f"SELECT {COLUMNS} FROM tickets WHERE id = ?", (ticket_id,)
        ).fetchone()
        self.conn.execute(
            "UPDATE tickets SET priority = ?, updated_at = ? WHERE id = ? AND updated_at = ?",
            (priority, format_timestamp(now), ticket_id, row[7]),
        )
        data = {
            "ticket_id": ticket_id,
            "actor": "anonymous",
            "changes": {"priority": {"old": row[4], "new": priority}},
        }
        record(self.conn, AuditEventType.TICKET_UPDATED, data, actor="anonymous", at=now)
        self.conn.execute("COMMIT")

    def cancel(self, ticket_id: str) -> None:
        now = utc_now()
        state = Cancelled(cancelled_by="anonymous", reason=None, cancelled_at=now)
        self.conn.execute("BEGIN IMMEDIATE")
        row = self.conn.execute(
            f"SELECT {COLUMNS} FROM tickets WHERE id = ?", (ticket_id,)
        ).fetchone()
        self.conn.execute(
            "UPDATE tickets SET state = ?, updated_at = ? WHERE id = ? AND updated_at = ?",
            (encode_state(state), format_timestamp(now), ticket_id, row[7]),
        )
        data = {
            "ticket_id": ticket_id,
            "cancelled_by": "anonymous",
            "reason": None,
            "previous_state": "pending",
        }
        record(self.conn, AuditEventType.TICKET_CANCELLED, data, actor="anonymous", at=now)
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


class Side:
    """One way of running the five operations, with the tickets it created to edit and
    cancel (each edit gives one a new priority, so every edit changes a pending ticket)."""

    def __init__(
        self,
        create: Callable[[], str],
        get: Callable[[str], object],
        page: Callable[[str], object],
        edit: Callable[[str, int], object],
        cancel: Callable[[str], object],
        *,
        ids: list[str],
    ) -> None:
        self.operations: dict[str, Callable[[int], None]] = {
            "create": self._repeat(lambda: self.created.append(create())),
            "get": self._repeat(lambda: get(next(self.existing))),
            "list (pending, 50)": self._repeat(lambda: page("pending")),
            "edit": self._repeat(lambda: edit(*self._next_edit())),
            "cancel": self._repeat(lambda: cancel(self.created.pop())),
        }
        self.created: list[str] = []
        self.edits = 0
        self.existing = itertools.cycle(ids)
        self.samples: dict[str, list[float]] = {name: [] for name in self.operations}

    @staticmethod
    def _repeat(action: Callable[[], object]) -> Callable[[int], None]:
        def run(n: int) -> None:
            for _ in range(n):
                action()

        return run

    def _next_edit(self) -> tuple[str, int]:
        self.edits += 1
        return self.created[-1 - self.edits % len(self.created)], 1000 + self.edits % 60000

    def measure(self, name: str, count: int) -> None:
        self.samples[name].append(per_op_seconds(self.operations[name], count, 1))

    def seconds(self, name: str) -> float:
        return statistics.median(self.samples[name])


def _store_side(path: Path, ids: list[str]) -> Side:
    """The service's own code, each operation on storage opened as a request opens it."""

    def as_a_request(work: Callable[[SqliteTicketStore], T]) -> T:
        with open_storage(path) as storage:
            return work(storage.tickets)

    return Side(
        lambda: as_a_request(lambda tickets: tickets.create(REQUEST, created_by="anonymous").id),
        # What GET /api/v1/tickets/{id} reads: the ticket's JSON, made by SQLite.
        lambda ticket_id: as_a_request(lambda tickets: tickets.get_json(ticket_id)),
        lambda state: as_a_request(lambda tickets: tickets.page(TicketFilter(state=state))),
        lambda ticket_id, priority: as_a_request(
            lambda tickets: tickets.edit(
                ticket_id, UpdateTicketRequest(priority=priority), actor="anonymous"
            )
        ),
        lambda ticket_id: as_a_request(
            lambda tickets: tickets.cancel(ticket_id, cancelled_by="anonymous", reason=None)
        ),
        ids=ids,
    )


def _same_sql_side(path: Path, ids: list[str]) -> Side:
    """The baseline's statements, each operation on a new connection opened as a request
    opens one (`db.connect`): the floor of a connection per operation, with no domain code.
    """

    def on_new_connection(operation: Callable[..., T]) -> Callable[..., T]:
        def run(*args: str) -> T:
            with db.connect(path) as conn:
                return operation(Baseline(conn), *args)

        return run

    return Side(
        on_new_connection(Baseline.create),
        on_new_connection(Baseline.get),
        on_new_connection(Baseline.page),
        on_new_connection(Baseline.edit),
        on_new_connection(Baseline.cancel),
        ids=ids,
    )


def _counts(count: int) -> dict[str, int]:
    return {
        "create": count,
        "get": count,
        "list (pending, 50)": max(1, count // 5),
        "edit": count,
        "cancel": count,
    }


def _sample_ids(path: Path, count: int) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [
            r[0] for r in conn.execute("SELECT id FROM tickets ORDER BY random() LIMIT ?", (count,))
        ]
    finally:
        conn.close()


def run(workdir: Path, *, tickets: int, count: int, rounds: int) -> Table:
    """Measure both sides on databases of `tickets` tickets; `count` operations a round."""
    names = ("service", "baseline", "same-sql", "no-anchor")
    paths = {name: workdir / f"store-{name}.db" for name in names}
    for path in paths.values():
        loader.build(path, tickets)
    ids = _sample_ids(paths["service"], count)

    startup.ensure_started(paths["service"])  # what the server does at start-up
    baseline = Baseline.open(paths["baseline"])
    same_sql_anchor = db.hold_open(paths["same-sql"])  # anchored, as the service is
    sides = {
        "chalicelib": _store_side(paths["service"], ids),
        "baseline": Side(
            baseline.create, baseline.get, baseline.page, baseline.edit, baseline.cancel, ids=ids
        ),
        "same SQL": _same_sql_side(paths["same-sql"], ids),
        # The service as it was before the anchor: every connection is the last one.
        "no anchor": _store_side(paths["no-anchor"], ids),
    }
    # Rounds interleave the sides, so a noisy neighbour hits all of them alike.
    try:
        for _ in range(rounds):
            for name, count_ in _counts(count).items():
                for side in sides.values():
                    side.measure(name, count_)
    finally:
        baseline.close()
        same_sql_anchor.close()
    ours, floor, same_sql, unanchored = (
        {name: side.seconds(name) for name in side.operations} for side in sides.values()
    )

    def open_close(n: int) -> None:
        for _ in range(n):
            with db.connect(paths["service"]) as conn:
                conn.execute("SELECT 1 FROM tickets LIMIT 0").fetchall()

    fixed = per_op_seconds(open_close, count, rounds)

    table = Table(
        f"Store: chalicelib (connection per operation) vs plain sqlite3 ({tickets:,} tickets)",
        [
            "operation",
            "chalicelib ops/s",
            "baseline ops/s",
            "ratio",
            "same SQL, new connection ops/s",
            "its ratio",
            "without anchor ops/s",
            "vs same SQL",
        ],
    )
    for name, seconds in ours.items():
        table.add(
            name,
            1 / seconds,
            1 / floor[name],
            f"{seconds / floor[name]:.2f}x",
            1 / same_sql[name],
            f"{same_sql[name] / floor[name]:.2f}x",
            1 / unanchored[name],
            f"{seconds / same_sql[name]:.2f}x",
        )
    table.add("open + schema + close", 1 / fixed, "-", "-", "-", "-", "-", "-")
    table.notes.append(
        f"Median of {rounds} rounds of {count} operations (list: {max(1, count // 5)}). "
        "ratio = chalicelib time / baseline time."
        " A get reads what GET /api/v1/tickets/{id} answers (`get_json`: the ticket's JSON,"
        " made by SQLite, and its version), a list what GET /api/v1/tickets does (`page`)."
        " An edit gives a pending ticket a new priority (three queue indexes change). "
        "'same SQL, new connection' runs the baseline's statements on a new connection per"
        " operation, opened as a request opens one: its ratio is the floor of a connection"
        " per operation, before any domain code. vs same SQL = chalicelib time / that"
        " floor's time, what the domain code adds (target: get <= 1.1x, list <= 1.5x). "
        f"Opening a connection, loading the schema and closing costs {fixed * 1e6:.0f} us."
    )
    return table
