"""Scale: the cost of each read and write as the queue grows to 10k, 100k and 1M tickets.

Each size is a database built by the bulk loader (10% pending, like a queue after
years), measured through `chalicelib` as the service runs it (anchored, a connection
per operation). A deep page is 90% of the way through the pending tickets, reached by
`offset` and by the API's `after=` cursor (what its `next` links use), the fix for deep
offsets.
"""

from __future__ import annotations

import http.client
import itertools
import sqlite3
import statistics
from collections.abc import Callable
from pathlib import Path

from bench import loader
from bench.common import Table, per_op_seconds
from bench.store_bench import REQUEST
from chalicelib.service import startup
from chalicelib.service.unit_of_work import open_storage
from chalicelib.tickets.listing import TicketFilter, list_query
from chalicelib.tickets.store import SqliteTicketStore
from harness.server_process import Server

STATE = "json_extract(state, '$.type')"
ORDER = "priority DESC, created_at, id"
COLUMNS = "id, created_at, created_by, state, priority, query_context, dest_path, updated_at"
_CURSOR_SQL, _CURSOR_PARAMS = list_query(TicketFilter(state="pending"), (100, "t", "x"))
PLANS: dict[str, tuple[str, tuple[object, ...]]] = {
    "get": ("SELECT * FROM tickets WHERE id = ?", ("x",)),
    "list pending, first page": (
        f"SELECT {COLUMNS} FROM tickets WHERE {STATE} = ? ORDER BY {ORDER} LIMIT 50 OFFSET 0",
        ("pending",),
    ),
    "list all, first page": (
        f"SELECT {COLUMNS} FROM tickets ORDER BY {ORDER} LIMIT 50 OFFSET 0",
        (),
    ),
    "total (ticket_counts)": (
        "SELECT coalesce(sum(tickets), 0) FROM ticket_counts WHERE state = ?",
        ("pending",),
    ),
    "total (old count(*))": (f"SELECT count(*) FROM tickets WHERE {STATE} = ?", ("pending",)),
    "deep page, after= cursor": (_CURSOR_SQL, tuple(_CURSOR_PARAMS)),
}


def _plan(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> str:
    rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return "; ".join(str(row[3]) for row in rows)


def plans(path: Path) -> Table:
    """EXPLAIN QUERY PLAN for every query the scale run measures."""
    table = Table("Query plans at the largest size", ["query", "plan"])
    table.notes.append(
        "The one SCAN walks idx_tickets_queue in queue order and stops at the LIMIT: it"
        " reads 50 rows, not the table. The after= cursor page seeks twice (the rest of the"
        " cursor's priority, then the lower ones) and merges at most two pages of rows."
    )
    conn = sqlite3.connect(path)
    try:
        for name, (sql, params) in PLANS.items():
            table.add(name, _plan(conn, sql, params))
    finally:
        conn.close()
    return table


def _ids(path: Path, count: int) -> tuple[list[str], int, tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        ids = [
            r[0] for r in conn.execute("SELECT id FROM tickets ORDER BY random() LIMIT ?", (count,))
        ]
        pending = conn.execute(
            f"SELECT count(*) FROM tickets WHERE {STATE} = 'pending'"
        ).fetchone()[0]
        deep = int(pending * 0.9)
        cursor = conn.execute(
            f"SELECT priority, created_at, id FROM tickets WHERE {STATE} = 'pending'"
            f" ORDER BY {ORDER} LIMIT 1 OFFSET ?",
            (deep - 1,),
        ).fetchone()
    finally:
        conn.close()
    return ids, deep, tuple(cursor)


class Size:
    """The scale operations on one database, sampled round by round."""

    def __init__(self, path: Path, *, ops: int) -> None:
        ids, deep, (_, _, deep_ticket_id) = _ids(path, ops)
        startup.ensure_started(path)
        picks = itertools.cycle(ids)

        def store(work: Callable[[SqliteTicketStore], object]) -> Callable[[], object]:
            def action() -> object:  # storage opened as a request opens it
                with open_storage(path) as storage:
                    return work(storage.tickets)

            return action

        def raw(sql: str, params: tuple[object, ...]) -> Callable[[], object]:
            def action() -> object:
                conn = sqlite3.connect(path)
                try:
                    return conn.execute(sql, params).fetchall()
                finally:
                    conn.close()

            return action

        few = max(1, ops // 10)
        self.operations: dict[str, tuple[Callable[[], object], int]] = {
            "get": (store(lambda tickets: tickets.get(next(picks))), ops),
            "create": (
                store(lambda tickets: tickets.create(REQUEST, created_by="bench")),
                max(1, ops // 2),
            ),
            "list pending, first page + total": (
                store(lambda tickets: tickets.page(TicketFilter(state="pending"))),
                few,
            ),
            "total (ticket_counts)": (
                store(lambda tickets: tickets.count(TicketFilter(state="pending"))),
                ops,
            ),
            "total (old count(*) of pending)": (
                raw(f"SELECT count(*) FROM tickets WHERE {STATE} = ?", ("pending",)),
                few,
            ),
            "deep page + total (offset 90% of pending)": (
                store(lambda tickets: tickets.page(TicketFilter(state="pending", offset=deep))),
                few,
            ),
            "deep page, after= cursor (the fix)": (
                store(
                    lambda tickets: tickets.page(
                        TicketFilter(state="pending", after=deep_ticket_id)
                    )
                ),
                few,
            ),
        }
        self.samples: dict[str, list[float]] = {name: [] for name in self.operations}

    def measure_round(self) -> None:
        for name, (action, count) in self.operations.items():

            def run(n: int, action: Callable[[], object] = action) -> None:
                for _ in range(n):
                    action()

            self.samples[name].append(per_op_seconds(run, count, 1))

    def seconds(self) -> dict[str, float]:
        return {name: statistics.median(samples) for name, samples in self.samples.items()}


def server_memory(path: Path, workdir: Path, *, requests: int) -> tuple[float, float]:
    """Drive the scale operations through the real server on `path`; its (RSS, peak) MiB."""
    ids, deep, _ = _ids(path, requests)
    with Server(path, log_path=workdir / "scale-server.log") as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        paths = [f"/api/v1/tickets/{ticket_id}" for ticket_id in ids]
        paths += ["/api/v1/tickets?state=pending", f"/api/v1/tickets?state=pending&offset={deep}"]
        paths += ["/api/v1/tickets", "/api/v1/tickets?offset=900000", "/api/v1/audit?offset=100000"]
        try:
            for target in paths:
                conn.request("GET", target)
                conn.getresponse().read()
        finally:
            conn.close()
        return server.memory_mb()


def run(
    workdir: Path, *, sizes: list[int], ops: int, rounds: int
) -> tuple[Table, Table, tuple[float, float], dict[int, float]]:
    """Build each size, measure it; return the cost table, the plans and server memory."""
    build_seconds: dict[int, float] = {}
    paths = {size: workdir / f"scale-{size}.db" for size in sizes}
    for size, path in paths.items():
        build_seconds[size] = loader.build(path, size)
    measured = {size: Size(path, ops=ops) for size, path in paths.items()}
    # Rounds interleave the sizes, so a noisy neighbour hits all of them alike.
    for _ in range(rounds):
        for size in sizes:
            measured[size].measure_round()
    results = {size: measured[size].seconds() for size in sizes}
    largest = paths[sizes[-1]]
    plan_table = plans(largest)
    memory = server_memory(largest, workdir, requests=ops)
    table = Table(
        "Scale: microseconds per operation (chalicelib, a connection per operation)",
        ["operation", *(f"{size:,}" for size in sizes), f"{sizes[-1]:,} / {sizes[0]:,}"],
    )
    for name in results[sizes[0]]:
        row = [results[size][name] * 1e6 for size in sizes]
        table.add(name, *row, f"{row[-1] / row[0]:.2f}x")
    table.notes.append(
        "Target: get, create and the first page at the largest size within 2x of the smallest."
        " Bulk load: " + ", ".join(f"{s:,} in {t:.0f} s" for s, t in build_seconds.items()) + "."
        f" Server after the scale run on {sizes[-1]:,} tickets: RSS {memory[0]:.0f} MiB,"
        f" peak {memory[1]:.0f} MiB."
    )
    return table, plan_table, memory, build_seconds
