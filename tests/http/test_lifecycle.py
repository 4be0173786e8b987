"""The service across restarts, and the app under plain `chalice local`."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import requests

from harness.server_process import PLAIN_CHALICE_LOCAL, Server
from tests.helpers import example_ticket


def service_starts(server: Server) -> list[dict[str, Any]]:
    page = requests.get(f"{server.url}/api/v1/audit?event_type=service_started", timeout=10).json()
    return list(page["events"])


def test_tickets_persist_across_a_restart_and_each_start_is_logged(tmp_path: Path) -> None:
    server = Server(tmp_path / "torrentino.db").start()
    try:
        kept = requests.post(
            f"{server.url}/api/v1/tickets", json=example_ticket(), timeout=10
        ).json()
        gone = requests.post(
            f"{server.url}/api/v1/tickets", json=example_ticket(priority=7), timeout=10
        ).json()
        cancelled = requests.delete(f"{server.url}/api/v1/tickets/{gone['id']}", timeout=10).json()
        assert len(service_starts(server)) == 1
    finally:
        server.stop()

    server.start()
    try:
        assert requests.get(f"{server.url}/api/v1/tickets/{kept['id']}", timeout=10).json() == kept
        assert (
            requests.get(f"{server.url}/api/v1/tickets/{gone['id']}", timeout=10).json()
            == cancelled
        )
        starts = service_starts(server)
        assert len(starts) == 2
        assert starts[0]["data"]["pid"] != starts[1]["data"]["pid"]
        assert requests.get(f"{server.url}/api/v1/tickets", timeout=10).json()["total"] == 2
    finally:
        server.stop()


def test_the_app_runs_unchanged_under_plain_chalice_local(tmp_path: Path) -> None:
    server = Server(tmp_path / "plain.db", command=PLAIN_CHALICE_LOCAL).start()
    try:
        created = requests.post(f"{server.url}/api/v1/tickets", json=example_ticket(), timeout=10)
        assert created.status_code == 201
        ticket_id = created.json()["id"]
        assert requests.get(f"{server.url}/api/v1/tickets/{ticket_id}", timeout=10).ok
        assert len(service_starts(server)) == 1
    finally:
        server.stop()
    assert (tmp_path / "plain.db").exists()


def test_default_database_lives_under_xdg_data_home(tmp_path: Path) -> None:
    expected = tmp_path / "xdg" / "torrentino" / "torrentino.db"
    server = Server(
        expected,
        env={"XDG_DATA_HOME": str(tmp_path / "xdg")},
        pass_db_path=False,
        log_path=tmp_path / "server.log",
    )
    assert not expected.parent.exists()
    server.start()
    try:
        created = requests.post(
            f"{server.url}/api/v1/tickets", json=example_ticket(), timeout=10
        ).json()
    finally:
        server.stop()
    conn = sqlite3.connect(expected)
    try:
        assert conn.execute("SELECT id FROM tickets").fetchall() == [(created["id"],)]
    finally:
        conn.close()
