"""Clients that hammer a real server and remember exactly what it acknowledged."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.helpers import example_ticket


@dataclass
class Ledger:
    """What the server acknowledged, shared by every client thread."""

    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> 201 body
    cancelled: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> 200 body
    statuses: dict[str, list[int]] = field(default_factory=dict)  # operation -> statuses
    latencies: dict[str, list[float]] = field(default_factory=dict)  # operation -> seconds
    failures: list[str] = field(default_factory=list)  # connection errors and the like
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledged_writes(self) -> int:
        with self.lock:
            return len(self.created) + len(self.cancelled)

    def note(self, operation: str, status: int, seconds: float) -> None:
        with self.lock:
            self.statuses.setdefault(operation, []).append(status)
            self.latencies.setdefault(operation, []).append(seconds)

    def server_errors(self) -> dict[str, list[int]]:
        with self.lock:
            return {
                op: [s for s in statuses if s >= 500]
                for op, statuses in self.statuses.items()
                if any(s >= 500 for s in statuses)
            }


def client(
    base_url: str, ledger: Ledger, seed: int, keep_going: Callable[[], bool], *, mix: str
) -> None:
    """One client: creates, reads, lists and cancels until told to stop or the server dies.

    `mix` is "writes" (creates and cancels only) or "mixed" (reads and lists as well).
    """
    rng = random.Random(seed)
    mine: list[str] = []
    session = requests.Session()
    tickets_url = f"{base_url}/api/v1/tickets"
    try:
        while keep_going():
            roll = rng.random()
            started = time.perf_counter()
            if mix == "mixed" and mine and roll < 0.3:
                operation = "get"
                response = session.get(f"{tickets_url}/{rng.choice(mine)}", timeout=30)
            elif mix == "mixed" and roll < 0.45:
                operation = "list"
                state = rng.choice(["", "&state=pending", "&state=cancelled"])
                offset = rng.randrange(0, 200)
                response = session.get(f"{tickets_url}?limit=20&offset={offset}{state}", timeout=30)
            elif mine and roll < 0.65:
                operation = "cancel"
                ticket_id = mine.pop(rng.randrange(len(mine)))
                response = session.delete(
                    f"{tickets_url}/{ticket_id}", json={"reason": f"client {seed}"}, timeout=30
                )
                if response.status_code == 200:
                    with ledger.lock:
                        ledger.cancelled[ticket_id] = response.json()
            else:
                operation = "create"
                body = example_ticket(
                    priority=rng.randrange(0, 65536),
                    query_context={"tags": [f"client-{seed}"], "description": f"load {roll}"},
                )
                response = session.post(tickets_url, json=body, timeout=30)
                if response.status_code == 201:
                    created = response.json()
                    with ledger.lock:
                        ledger.created[created["id"]] = created
                    mine.append(created["id"])
            ledger.note(operation, response.status_code, time.perf_counter() - started)
    except requests.RequestException as error:
        with ledger.lock:
            ledger.failures.append(f"client {seed}: {type(error).__name__}")
    finally:
        session.close()


def run_clients(
    base_url: str,
    ledger: Ledger,
    count: int,
    keep_going: Callable[[], bool],
    *,
    mix: str,
    seed: int = 0,
) -> list[threading.Thread]:
    """Start `count` client threads; the caller joins them."""
    threads = [
        threading.Thread(
            target=client,
            args=(base_url, ledger, seed * 1000 + n, keep_going),
            kwargs={"mix": mix},
            daemon=True,
        )
        for n in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads
