"""Concurrent requests against one real server: no double cancel, no lost create."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.helpers import example_ticket
from tests.http.server import Server

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
