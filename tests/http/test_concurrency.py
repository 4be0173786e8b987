"""Concurrent requests against one real server: no double cancel, no lost create."""

from __future__ import annotations

import itertools
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import requests

from harness.server_process import Server
from tests.helpers import example_ticket

WORKERS = 16


def test_concurrent_cancels_of_one_ticket_succeed_exactly_once(server: Server) -> None:
    ticket = requests.post(f"{server.url}/api/v1/tickets", json=example_ticket(), timeout=10).json()
    url = f"{server.url}/api/v1/tickets/{ticket['id']}"

    def cancel(n: int) -> int:
        return requests.delete(url, json={"reason": f"attempt {n}"}, timeout=60).status_code

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = list(pool.map(cancel, range(40)))
    assert statuses.count(200) == 1
    assert statuses.count(409) == 39
    events = requests.get(
        f"{server.url}/api/v1/audit?event_type=ticket_cancelled&ticket_id={ticket['id']}",
        timeout=10,
    ).json()
    assert events["total"] == 1
    winner = events["events"][0]["data"]["reason"]
    assert requests.get(url, timeout=10).json()["state"]["cancelled"]["reason"] == winner


def test_concurrent_creates_all_land_with_their_events(server: Server) -> None:
    def create(n: int) -> tuple[int, str]:
        response = requests.post(
            f"{server.url}/api/v1/tickets", json=example_ticket(priority=n), timeout=60
        )
        return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(create, range(200)))
    assert {status for status, _ in results} == {201}
    ids = {ticket_id for _, ticket_id in results}
    assert len(ids) == 200
    conn = sqlite3.connect(server.db_path)
    try:
        stored = {r[0] for r in conn.execute("SELECT id FROM tickets")}
        logged = {
            r[0]
            for r in conn.execute(
                "SELECT ticket_id FROM audit_events WHERE event_type = 'ticket_created'"
            )
        }
    finally:
        conn.close()
    assert ids <= stored
    assert ids <= logged


def test_concurrent_retries_with_one_idempotency_key_create_one_ticket(server: Server) -> None:
    conn = sqlite3.connect(server.db_path)
    before = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
    conn.close()

    def create(_: int) -> tuple[int, str]:
        response = requests.post(
            f"{server.url}/api/v1/tickets",
            json=example_ticket(priority=4242),
            headers={"Idempotency-Key": "concurrent-retry-1"},
            timeout=60,
        )
        return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(create, range(32)))
    assert {status for status, _ in results} == {201}
    assert len({ticket_id for _, ticket_id in results}) == 1
    conn = sqlite3.connect(server.db_path)
    try:
        after = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
        events = conn.execute(
            "SELECT count(*) FROM audit_events WHERE event_type = 'ticket_created'"
            " AND ticket_id = ?",
            (results[0][1],),
        ).fetchone()[0]
    finally:
        conn.close()
    assert after == before + 1
    assert events == 1


def test_events_are_stamped_in_commit_order_under_concurrent_writes(server: Server) -> None:
    # A client that polls `audit?after=<last id seen>` relies on this: an event committed
    # later never sorts before one committed earlier, so it cannot be skipped.
    tickets = [
        requests.post(f"{server.url}/api/v1/tickets", json=example_ticket(), timeout=60).json()
        for _ in range(40)
    ]

    def write(n: int) -> int:
        if n % 2:
            url = f"{server.url}/api/v1/tickets/{tickets[n // 2]['id']}"
            return requests.delete(url, json={"reason": f"r{n}"}, timeout=60).status_code
        return requests.post(
            f"{server.url}/api/v1/tickets", json=example_ticket(), timeout=60
        ).status_code

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = list(pool.map(write, range(80)))
    assert set(statuses) == {200, 201}
    conn = sqlite3.connect(server.db_path)
    try:
        stamps = [r[0] for r in conn.execute("SELECT timestamp FROM audit_events ORDER BY id")]
    finally:
        conn.close()
    out_of_order = [(a, b) for a, b in itertools.pairwise(stamps) if b < a]
    assert out_of_order == []
