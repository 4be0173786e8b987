"""Several Lambda containers at once (separate processes, each serving one request at a
time), cold on a fresh volume, sharing one database directory in the stage's network
filesystem journal mode, under concurrent creates and cancels: every acknowledged write is
there with its event, the consistency check passes, and no container answers 5xx but the
documented busy case (503 `storage_unavailable` with Retry-After)."""

from __future__ import annotations

import random
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.backups.check import check_database
from harness.lambda_harness import ApiGateway, GatewayResponse, Package
from tests.deploy.conftest import OPEN_TO_NETWORK, StartContainer
from tests.helpers import example_ticket

CONTAINERS = 4
REQUESTS_EACH = 30


@dataclass
class Ledger:
    """What the containers acknowledged, and every status they answered."""

    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancelled: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: list[tuple[int, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, response: GatewayResponse) -> None:
        code = response.json()["error"]["code"] if response.status >= 400 else ""
        if response.status >= 500 and not response.header("Retry-After"):
            code += " without Retry-After"
        with self.lock:
            self.statuses.append((response.status, code))

    def pick(self, rng: random.Random) -> str | None:
        with self.lock:
            return rng.choice(sorted(self.created)) if self.created else None


def client(gateway: ApiGateway, ledger: Ledger, seed: int, start: threading.Barrier) -> None:
    try:
        requests(gateway, ledger, seed, start)
    except Exception as error:  # a thread's exception would not fail the test by itself
        with ledger.lock:
            ledger.failures.append(repr(error))


def requests(gateway: ApiGateway, ledger: Ledger, seed: int, start: threading.Barrier) -> None:
    """Creates and cancels (of anyone's tickets), as fast as one container answers."""
    rng = random.Random(seed)
    start.wait(timeout=120)
    for n in range(REQUESTS_EACH):
        target = ledger.pick(rng) if n % 3 == 2 else None
        if target is None:
            body = example_ticket(priority=rng.randrange(10), dest_path=f"/media/{seed}/{n}")
            response = gateway.request("POST", gateway.url("/api/v1/tickets"), json_body=body)
            ledger.note(response)
            if response.status == 201:
                with ledger.lock:
                    ledger.created[response.json()["id"]] = response.json()
        else:
            response = gateway.request("DELETE", gateway.url(f"/api/v1/tickets/{target}"))
            ledger.note(response)
            if response.status == 200:
                with ledger.lock:
                    ledger.cancelled[target] = response.json()


def events_by_ticket(db: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT ticket_id, event_type FROM audit_events WHERE ticket_id IS NOT NULL ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    found: dict[str, list[str]] = {}
    for ticket_id, event_type in rows:
        found.setdefault(ticket_id, []).append(event_type)
    return found


def test_containers_at_once_share_one_database_and_lose_nothing(
    package: Package, start_container: StartContainer, efs: Path
) -> None:
    gateways = [
        ApiGateway.execute_api(
            package, start_container(name=f"container-{n}", extra_env=OPEN_TO_NETWORK)
        )
        for n in range(CONTAINERS)
    ]
    assert not (efs / "torrentino.db").exists()  # a fresh volume: they all start on it at once
    ledger = Ledger()
    start = threading.Barrier(CONTAINERS)
    threads = [
        threading.Thread(target=client, args=(gateway, ledger, seed, start))
        for seed, gateway in enumerate(gateways)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)

    assert ledger.failures == []
    allowed = {(201, ""), (200, ""), (409, "invalid_transition"), (503, "storage_unavailable")}
    assert set(ledger.statuses) <= allowed, sorted(set(ledger.statuses) - allowed)
    assert len(ledger.statuses) == CONTAINERS * REQUESTS_EACH
    assert ledger.created and ledger.cancelled

    reader = gateways[0]
    for ticket_id, created in ledger.created.items():
        stored = reader.request("GET", reader.url(f"/api/v1/tickets/{ticket_id}")).json()
        expected = ledger.cancelled.get(ticket_id, created)
        assert stored == expected
    db = efs / "torrentino.db"
    events = events_by_ticket(db)
    for ticket_id in ledger.created:
        assert events[ticket_id][0] == "ticket_created"
        cancels = events[ticket_id].count("ticket_cancelled")
        assert cancels == (1 if ticket_id in ledger.cancelled else 0)
    report = check_database(db)
    assert report.ok, report.problems
    assert report.tickets == len(ledger.created)
    assert db.read_bytes()[18:20] == b"\x01\x01"  # a rollback journal, never WAL
    assert not (efs / "torrentino.db-wal").exists()
    starts = reader.request("GET", reader.url("/api/v1/audit?event_type=service_started"))
    assert starts.json()["total"] == CONTAINERS
