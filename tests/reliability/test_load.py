"""Bounded load on loopback: 16 clients for 30 s; no 5xx, no lost write, a consistent database.
In each journal mode: WAL (the default) and the rollback journals of a network filesystem.

The throughput and latency it measured are printed at the end of the pytest run (and
summarised in docs/reliability.md as a reliability figure); nothing here asserts on time.
Set TORRENTINO_LOAD_SECONDS to run it longer or shorter.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from chalicelib.backups.check import check_database
from harness.server_process import Server
from tests.reliability.load import Ledger, run_clients

CLIENTS = 16
SECONDS = float(os.environ.get("TORRENTINO_LOAD_SECONDS", "30"))
MAX_REQUESTS = 1_000_000  # a second bound, should the server be absurdly fast
EXPECTED = {"create": {201}, "get": {200}, "list": {200}, "cancel": {200}}

FIGURES: list[str] = []  # printed by conftest.pytest_terminal_summary


@pytest.fixture
def load_server(journal_mode: str, tmp_path: Path) -> Iterator[Server]:
    """A server in `journal_mode`, which it takes from the environment."""
    del journal_mode
    running = Server(tmp_path / "torrentino.db").start()
    yield running
    running.stop()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe(ledger: Ledger, elapsed: float, journal_mode: str) -> list[str]:
    everything = [s for seconds in ledger.latencies.values() for s in seconds]
    lines = [
        f"load ({journal_mode} journal): {CLIENTS} clients, {elapsed:.1f} s,"
        f" {len(everything)} requests, "
        f"{len(everything) / elapsed:.0f} requests/s "
        f"({len(ledger.created)} creates and {len(ledger.cancelled)} cancels acknowledged)"
    ]
    for operation, seconds in sorted({"all": everything, **ledger.latencies}.items()):
        ms = [s * 1000 for s in seconds]
        lines.append(
            f"  {operation:>6}: {len(ms):>7} requests, p50 {statistics.median(ms):6.1f} ms, "
            f"p95 {percentile(ms, 0.95):6.1f} ms, p99 {percentile(ms, 0.99):6.1f} ms, "
            f"max {max(ms):7.1f} ms"
        )
    return lines


def stored(db: Path) -> tuple[dict[str, str], set[str], set[str]]:
    """Ticket id -> state type, ids with a created event, ids with a cancelled event."""
    conn = sqlite3.connect(db)
    try:
        states = dict(conn.execute("SELECT id, json_extract(state, '$.type') FROM tickets"))
        created = {
            r[0]
            for r in conn.execute(
                "SELECT ticket_id FROM audit_events WHERE event_type = 'ticket_created'"
            )
        }
        cancelled = {
            r[0]
            for r in conn.execute(
                "SELECT ticket_id FROM audit_events WHERE event_type = 'ticket_cancelled'"
            )
        }
    finally:
        conn.close()
    return states, created, cancelled


def test_sixteen_clients_for_thirty_seconds_lose_nothing(
    load_server: Server, journal_mode: str
) -> None:
    ledger = Ledger()
    started = time.monotonic()
    deadline = started + SECONDS

    def keep_going() -> bool:
        return (
            time.monotonic() < deadline and len(ledger.latencies.get("create", [])) < MAX_REQUESTS
        )

    threads = run_clients(load_server.url, ledger, CLIENTS, keep_going, mix="mixed")
    for thread in threads:
        thread.join(timeout=SECONDS + 120)
    elapsed = time.monotonic() - started
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    FIGURES.extend(describe(ledger, elapsed, journal_mode))

    assert ledger.failures == []  # no refused or reset connection, no timeout
    assert ledger.server_errors() == {}
    for operation, statuses in ledger.statuses.items():
        assert set(statuses) <= EXPECTED[operation], (operation, set(statuses))
    assert ledger.created and ledger.cancelled

    states, created_events, cancelled_events = stored(load_server.db_path)
    assert set(ledger.created) <= set(states)  # every acknowledged create is stored...
    assert set(ledger.created) <= created_events  # ...with its event
    assert all(states[ticket_id] == "cancelled" for ticket_id in ledger.cancelled)
    assert set(ledger.cancelled) <= cancelled_events
    report = check_database(load_server.db_path)
    assert report.ok, report.problems


def test_a_burst_of_new_connections_is_served(load_server: Server) -> None:
    """64 clients connect at the same instant: none is refused or reset."""
    barrier = threading.Barrier(64)
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        status = requests.get(f"{load_server.url}/api/v1/tickets?limit=1", timeout=60).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses == [200] * 64
