"""The floor of the design under the comparison with the peer: what each route's SQL costs
on a new connection, whatever serves it.

Both servers open a connection per request (the file, its WAL, the schema parsed again,
the PRAGMAs) and run the same statements; a change also waits for its commit's fsync,
and commits take turns. Neither server can go below that, so a route's best possible
ratio against the peer is the peer's cost over (this floor + torrentino's own floor, its
health route). A write's throughput is also bounded by its commits, one after another:
`commit_pace` measures how many writes the statements alone commit per second with 4 and
16 threads at once, taking turns on the process's writer queue as both servers do, each
doing before its turn all this design lets it (compiling its statements, a move reading
its row), as torrentino does.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.store_bench import COLUMNS, REQUEST, Baseline
from chalicelib.audit.events import INSERT_EVENT, AuditEventType, encode_data
from chalicelib.storage import db
from chalicelib.tickets.events import created_data
from chalicelib.tickets.rows import INSERT_TICKET, insert_tags
from chalicelib.tickets.states import Cancelled, encode_state
from chalicelib.tickets.transitions import UPDATE_STATE
from chalicelib.timestamps import format_timestamp, utc_now

EVENTS = "SELECT id, event_type, timestamp, data FROM audit_events"


@dataclass(frozen=True)
class Floor:
    """One route's SQL on a new connection per operation: CPU and wall time, in seconds."""

    cpu: float
    wall: float


def _history(conn: Baseline, ticket_id: str) -> None:
    conn.conn.execute("BEGIN")
    conn.conn.execute(f"SELECT {COLUMNS} FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    conn.conn.execute(f"{EVENTS} WHERE ticket_id = ? ORDER BY id", (ticket_id,)).fetchall()
    conn.conn.execute("COMMIT")


def _audit(conn: Baseline, _: str) -> None:
    conn.conn.execute("BEGIN")
    conn.conn.execute(f"{EVENTS} ORDER BY timestamp, id LIMIT 51").fetchall()
    conn.conn.execute("SELECT coalesce(sum(events), 0) FROM audit_counts").fetchone()
    conn.conn.execute("COMMIT")


# Each route's statements (the store's own, as bench/store_bench.py's baseline runs them).
# complete and fail run cancel's statements: a read, an update and an event, committed.
STATEMENTS: dict[str, Callable[[Baseline, str], object]] = {
    "get": Baseline.get,
    "list": lambda conn, _: conn.page("pending"),
    "history": _history,
    "audit": _audit,
    "create": lambda conn, _: conn.create(),
    "cancel": Baseline.cancel,
    "complete": Baseline.cancel,
    "fail": Baseline.cancel,
}


def measure(
    template: Path, workdir: Path, pending: list[str], *, count: int, rounds: int
) -> dict[str, Floor]:
    """Each route's statements, `count` times a round, each on a new connection opened as
    a request opens one (with the idle connection the service keeps); the median round."""
    path = workdir / "peer-floor.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)
    anchor = db.hold_open(path)
    samples: dict[str, list[Floor]] = {route: [] for route in STATEMENTS}
    unused = iter(pending)
    try:
        for _ in range(rounds):
            for route, statements in STATEMENTS.items():
                ids = [next(unused) for _ in range(count)]
                cpu, wall = time.thread_time(), time.perf_counter()
                for ticket_id in ids:
                    with db.connect(path) as conn:
                        statements(Baseline(conn), ticket_id)
                samples[route].append(
                    Floor((time.thread_time() - cpu) / count, (time.perf_counter() - wall) / count)
                )
    finally:
        anchor.close()
    return {
        route: Floor(
            statistics.median(f.cpu for f in floors), statistics.median(f.wall for f in floors)
        )
        for route, floors in samples.items()
    }


def _create_in_turn(conn: sqlite3.Connection, _: str) -> None:
    """A create's statements (`Baseline.create`'s, its tags in one), compiled before the
    turn; in it, only the writes and the commit."""
    ticket_id, tags = str(uuid.uuid4()), REQUEST.query_context.tags
    data = created_data(ticket_id, "anonymous", REQUEST)
    db.prepare(conn, ("BEGIN IMMEDIATE", INSERT_TICKET, insert_tags(len(tags)), INSERT_EVENT))
    with db.writers_turn():
        now = format_timestamp(utc_now())
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            INSERT_TICKET,
            (
                ticket_id,
                now,
                "anonymous",
                '{"type": "pending"}',
                REQUEST.priority,
                json.dumps(data["query_context"], ensure_ascii=False),
                REQUEST.dest_path,
                now,
            ),
        )
        conn.execute(insert_tags(len(tags)), [v for tag in tags for v in (tag, ticket_id)])
        conn.execute(
            INSERT_EVENT,
            (AuditEventType.TICKET_CREATED.value, now, ticket_id, "anonymous", encode_data(data)),
        )
        conn.commit()


def _cancel_in_turn(conn: sqlite3.Connection, ticket_id: str) -> None:
    """A cancel's statements (`Baseline.cancel`'s): the row read and the writes compiled
    before the turn; in it, the update of the version read, the event and the commit."""
    row = conn.execute(f"SELECT {COLUMNS} FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    data = {"ticket_id": ticket_id, "cancelled_by": "anonymous", "reason": None}
    encoded = encode_data({**data, "previous_state": "pending"})
    db.prepare(conn, ("BEGIN IMMEDIATE", UPDATE_STATE, INSERT_EVENT))
    with db.writers_turn():
        now = utc_now()
        state = encode_state(Cancelled(cancelled_by="anonymous", reason=None, cancelled_at=now))
        stamp = format_timestamp(now)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(UPDATE_STATE, (state, stamp, ticket_id, row["updated_at"]))
        conn.execute(
            INSERT_EVENT,
            (AuditEventType.TICKET_CANCELLED.value, stamp, ticket_id, "anonymous", encoded),
        )
        conn.commit()


# The change routes whose statements `commit_pace` runs (complete and fail run cancel's).
PACED: dict[str, Callable[[sqlite3.Connection, str], None]] = {
    "create": _create_in_turn,
    "cancel": _cancel_in_turn,
}


def commit_pace(
    template: Path, workdir: Path, pending: list[str], *, threads: int, count: int, rounds: int
) -> dict[str, float]:
    """Writes per second of each of `PACED`'s statements with `threads` threads at once,
    each write on a new connection opened as a request opens one, its writes and commit in
    the writer queue's turn (`db.writers_turn`), as in a server, and all else before it;
    the best of `rounds` rounds of `count` writes per thread. No server on this design
    commits faster at that concurrency in one process: no HTTP, no models, only the SQL
    and the turns."""
    path = workdir / "peer-pace.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)
    anchor = db.hold_open(path)
    unused = iter(pending)
    best: dict[str, float] = {}
    try:
        for _ in range(rounds):
            for route, statements in PACED.items():
                ids = [[next(unused) for _ in range(count)] for _ in range(threads)]

                def write(
                    mine: list[str],
                    statements: Callable[[sqlite3.Connection, str], None] = statements,
                ) -> None:
                    for ticket_id in mine:
                        with db.connect(path) as conn:
                            statements(conn, ticket_id)

                workers = [threading.Thread(target=write, args=(mine,)) for mine in ids]
                started = time.perf_counter()
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join()
                pace = threads * count / (time.perf_counter() - started)
                best[route] = max(best.get(route, 0.0), pace)
    finally:
        anchor.close()
    return best
