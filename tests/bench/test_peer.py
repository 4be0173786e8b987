"""The benchmark's peer (bench/peer/, FastAPI + uvicorn) serves what torrentino serves.

A comparison is only fair if both do the same work: on copies of one database, the peer
must answer every benchmarked route with torrentino's JSON (less what the seed leaves out:
`next` links) and store the same rows. Nothing here looks at speed.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bench import loader, peer_bench
from bench.peer_bench import peer_server
from harness.server_process import Server

CREATE: dict[str, Any] = {
    "priority": 100,
    "query_context": {"tags": ["music", "flac"], "description": "Abbey Road"},
    "dest_path": "/media/music/beatles",
}
# What differs between two servers' answers by nature: a new ticket's id and times.
VARYING = {"id", "created_at", "cancelled_at", "completed_at", "failed_at"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    root = tmp_path_factory.mktemp("peer")
    template = root / "template.db"
    loader.build(template, 300, states={"pending": 6, "completed": 2, "cancelled": 2},
                 histories=True)  # fmt: skip
    shutil.copyfile(template, root / "ours.db")
    shutil.copyfile(template, root / "peer.db")
    with Server(root / "ours.db") as ours, peer_server(root / "peer.db", root / "peer.log") as peer:
        yield ours, peer


def ids(server: Server, state: str) -> list[str]:
    conn = sqlite3.connect(server.db_path)
    try:
        rows = conn.execute(
            "SELECT id FROM tickets WHERE json_extract(state, '$.type') = ? ORDER BY id", (state,)
        )
        return [row[0] for row in rows]
    finally:
        conn.close()


def both(servers: tuple[Server, Server], method: str, path: str, **kwargs: Any) -> list[Any]:
    answers = []
    for server in servers:
        response = requests.request(method, server.url + path, timeout=10, **kwargs)
        assert response.ok, (server.command, path, response.text)
        answers.append(response.json())
    return answers


def without(value: Any, keys: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without(item, keys) for item in value]
    return value


def test_the_peer_reads_what_torrentino_reads(servers: tuple[Server, Server]) -> None:
    ours, peer = both(servers, "GET", "/api/v1/tickets?state=pending&limit=50")
    assert ours.pop("next") is not None  # the seed's page has no `next` link
    assert ours == peer
    assert len(peer["tickets"]) == 50
    ours, peer = both(servers, "GET", "/api/v1/audit?limit=50")
    assert ours["events"] == peer["events"]
    for state in ("pending", "completed", "cancelled"):
        for ticket_id in ids(servers[0], state)[:3]:
            ours, peer = both(servers, "GET", f"/api/v1/tickets/{ticket_id}")
            assert ours == peer
            ours, peer = both(servers, "GET", f"/api/v1/tickets/{ticket_id}/history")
            assert ours == peer
            assert len(peer["entries"]) == (1 if state == "pending" else 2)


def test_the_peer_writes_what_torrentino_writes(servers: tuple[Server, Server]) -> None:
    created = both(servers, "POST", "/api/v1/tickets", json=CREATE)
    assert without(created[0], VARYING) == without(created[1], VARYING)
    # Tickets both files hold: not the ticket each server just created (its id is its own).
    new = {ticket["id"] for ticket in created}
    pending = [ticket_id for ticket_id in ids(servers[0], "pending") if ticket_id not in new]
    for path, body in (
        ("DELETE /api/v1/tickets/{}", {}),
        ("POST /api/v1/tickets/{}/complete", None),
        ("POST /api/v1/tickets/{}/fail", {"error": "no seeders"}),
    ):
        ticket_id = pending.pop()
        method, _, route = path.partition(" ")
        changed = both(servers, method, route.format(ticket_id), json=body)
        assert without(changed[0], VARYING) == without(changed[1], VARYING)
        assert changed[0]["id"] == changed[1]["id"] == ticket_id
        history = both(servers, "GET", f"/api/v1/tickets/{ticket_id}/history")
        assert without(history[0], VARYING | {"timestamp"}) == without(
            history[1], VARYING | {"timestamp"}
        )
    assert counts(servers[0]) == counts(servers[1])


def counts(server: Server) -> tuple[str, str]:
    """The tickets per state and the ticket events per type the server's file holds."""
    conn = sqlite3.connect(server.db_path)
    try:
        found: tuple[str, str] = conn.execute(
            "SELECT (SELECT group_concat(state || tickets) FROM ticket_counts),"
            " (SELECT group_concat(event_type || events) FROM audit_counts"
            "  WHERE event_type != 'service_started')"
        ).fetchone()
        return found
    finally:
        conn.close()


def test_the_peer_refuses_what_it_cannot_do(servers: tuple[Server, Server]) -> None:
    peer = servers[1]
    completed = ids(peer, "completed")[0]
    assert requests.delete(f"{peer.url}/api/v1/tickets/{completed}", timeout=10).status_code == 409
    missing = f"{peer.url}/api/v1/tickets/00000000-0000-4000-8000-000000000000"
    assert requests.get(missing, timeout=10).status_code == 404
    bad = {**CREATE, "dest_path": "relative/path"}
    assert requests.post(f"{peer.url}/api/v1/tickets", json=bad, timeout=10).status_code == 422


def test_a_comparison_of_some_routes_runs_the_health_route_they_are_measured_against(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `--routes get` once failed in the floor table, which reads the health route's CPU.
    assert (
        peer_bench.main(
            ["--routes", "get", "--tickets", "2000", "--seconds", "0.2", "--rounds", "1"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert f"| {peer_bench.LABELS['health']} " in printed
    assert f"| {peer_bench.LABELS['get']} " in printed
    assert f"| {peer_bench.LABELS['create']} " not in printed
