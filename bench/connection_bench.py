"""Where a per-operation connection's time goes: the baseline's own create, phase by phase.

The store table compares `chalicelib` with plain sqlite3 on one long-lived connection.
This one takes the domain layer out: the baseline's exact statements run on

* the baseline's long-lived connection,
* a new connection per create, opened and closed by `db.connect` as a request does,
* a new connection per create in SQLite's shared-cache mode (measured, not used).

The second row's ratio is the floor for any design that opens a connection per
operation through the stdlib `sqlite3` module: no domain code can make `chalicelib`
cheaper than the raw statements on a connection of its own. The third row shows what
that floor is made of (per-connection state: the parsed schema, the page cache, the
WAL handle), and what the one SQLite feature that shares that state would buy. We do
not use it; the README says why.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from urllib.request import pathname2url

from bench import loader
from bench.common import Table
from bench.store_bench import Baseline
from chalicelib.storage import db

PHASES = ("open", "statements", "commit", "close")
Opener = Callable[[], AbstractContextManager[sqlite3.Connection]]


@contextmanager
def _long_lived(baseline: Baseline) -> Iterator[sqlite3.Connection]:
    yield baseline.conn


def _shared_cache(path: Path) -> Opener:
    uri = f"file:{pathname2url(str(path))}?mode=rw&cache=shared"

    def open_() -> closing[sqlite3.Connection]:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
        return closing(conn)

    return open_


def _phased_create(connection: Opener, stamps: dict[str, list[float]]) -> None:
    """One create in the baseline's SQL, timing each phase into `stamps`."""
    start = time.perf_counter()
    with connection() as conn:
        opened = time.perf_counter()
        Baseline.statements(conn)
        written = time.perf_counter()
        conn.execute("COMMIT")
        committed = time.perf_counter()
    closed = time.perf_counter()
    for phase, seconds in zip(
        PHASES,
        (opened - start, written - opened, committed - written, closed - committed),
        strict=True,
    ):
        stamps[phase].append(seconds)


def run(workdir: Path, *, tickets: int, count: int, rounds: int) -> Table:
    """Time `count` creates a round for each way, interleaved over `rounds` rounds."""
    paths = {name: workdir / f"phases-{name}.db" for name in ("long", "fresh", "shared")}
    for path in paths.values():
        loader.build(path, tickets)
    anchors = [db.hold_open(paths["fresh"]), db.hold_open(paths["shared"])]
    # The shared cache lives as long as one of its connections: keep one, as the
    # service keeps its anchor.
    shared_anchor = _shared_cache(paths["shared"])()
    baseline = Baseline.open(paths["long"])
    ways: dict[str, Opener] = {
        "long-lived connection (baseline)": lambda: _long_lived(baseline),
        "new connection per create (the service's way)": lambda: db.connect(paths["fresh"]),
        "new shared-cache connection per create (not used)": _shared_cache(paths["shared"]),
    }
    medians: dict[str, dict[str, list[float]]] = {
        way: {phase: [] for phase in PHASES} for way in ways
    }
    try:
        with shared_anchor as conn:
            conn.execute("SELECT count(*) FROM tickets").fetchone()
            for _ in range(rounds):
                for way, connection in ways.items():
                    stamps: dict[str, list[float]] = {phase: [] for phase in PHASES}
                    for _ in range(count):
                        _phased_create(connection, stamps)
                    for phase in PHASES:
                        medians[way][phase].append(statistics.median(stamps[phase]))
    finally:
        baseline.close()
        for anchor in anchors:
            anchor.close()

    table = Table(
        f"Store: where a create's time goes, the baseline's SQL only ({tickets:,} tickets)",
        ["create, same SQL", *(f"{phase} us" for phase in PHASES), "total us", "ratio"],
    )
    totals: dict[str, float] = {}
    for way, phases in medians.items():
        cost = {phase: statistics.median(samples) for phase, samples in phases.items()}
        totals[way] = sum(cost.values())
        floor = next(iter(totals.values()))
        table.add(
            way,
            *(cost[phase] * 1e6 for phase in PHASES),
            totals[way] * 1e6,
            f"{totals[way] / floor:.2f}x",
        )
    table.notes.append(
        f"Medians of {rounds} rounds of {count} creates, the three ways interleaved. open ="
        " connect, settings and (on a new connection) parsing the schema; statements ="
        " BEGIN IMMEDIATE and the three INSERTs (on a new connection: preparing them and"
        " reading their pages into an empty cache); commit = writing the WAL and its fsync"
        " (on a new connection, also the fsync of the directory SQLite does once per WAL"
        " handle). The second row's ratio is the lowest any connection-per-operation design"
        " can reach through the stdlib sqlite3 module with this schema on this SQLite build."
    )
    return table
