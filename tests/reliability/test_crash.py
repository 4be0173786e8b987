"""SIGKILL the real server in the middle of concurrent writes: nothing acknowledged is lost,
in each journal mode."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.backups.check import check_database
from harness.server_process import Server
from tests.helpers import example_ticket
from tests.reliability.load import Ledger, run_clients

CLIENTS = 8
# The kill lands after this many acknowledged writes, at a different point each round.
KILL_AFTER = (1, 25, 80, 200)


def without_state(ticket: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in ticket.items() if key != "state"}


def load_then_kill(server: Server, ledger: Ledger, kill_after: int, seed: int) -> None:
    stop = threading.Event()
    threads = run_clients(
        server.url, ledger, CLIENTS, lambda: not stop.is_set(), mix="writes", seed=seed
    )
    target = ledger.acknowledged_writes() + kill_after
    deadline = time.monotonic() + 60
    while ledger.acknowledged_writes() < target and time.monotonic() < deadline:
        time.sleep(0.002)
    server.stop(signal.SIGKILL)  # requests are in flight: some of them mid-transaction
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert ledger.acknowledged_writes() >= target, "the load never reached the kill point"


@pytest.mark.usefixtures("journal_mode")
def test_sigkill_under_load_loses_no_acknowledged_write(tmp_path: Path) -> None:
    server = Server(tmp_path / "torrentino.db")
    ledger = Ledger()
    for seed, kill_after in enumerate(KILL_AFTER):
        server.start()
        load_then_kill(server, ledger, kill_after, seed)
        report = check_database(server.db_path)  # the file exactly as the crash left it
        assert report.ok, report.problems

    assert not ledger.server_errors()
    server.start()
    try:
        session = requests.Session()
        for ticket_id, created in ledger.created.items():
            response = session.get(f"{server.url}/api/v1/tickets/{ticket_id}", timeout=30)
            assert response.status_code == 200, ticket_id
            stored = response.json()
            assert without_state(stored) == without_state(created)
            if ticket_id in ledger.cancelled:
                assert stored == ledger.cancelled[ticket_id]
            else:  # a cancel in flight at the kill may or may not have committed
                assert stored["state"] == "pending" or "cancelled" in stored["state"]
        after = session.post(f"{server.url}/api/v1/tickets", json=example_ticket(), timeout=30)
        assert after.status_code == 201  # and it takes new tickets after the crashes
    finally:
        server.stop()
    report = check_database(server.db_path)
    assert report.ok, report.problems
    assert report.tickets >= len(ledger.created)
