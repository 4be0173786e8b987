"""Concurrent requests against one real server: no double cancel, no lost create."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.helpers import example_ticket
from tools.server_process import Server

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
