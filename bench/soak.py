"""The soak: the real server (`make run`'s launcher) under mixed load for minutes, with
slow and broken clients mixed in.

    python -m bench.soak [--minutes 10] [--clients 8] [--out FILE] [--smoke]

Ordinary clients create, read, list and cancel tickets on keep-alive connections,
pausing a few milliseconds between requests; meanwhile bench/slow_clients.py holds
connections the way broken and hostile clients do (idle, dripping a head or a body,
never reading an answer). Every few seconds the server's RSS, threads and file
descriptors are sampled. At the end, every write the server acknowledged must be in
the database as acknowledged, and `python -m chalicelib.check` must pass on it.

It prints (and writes to --out) the latency percentiles, statuses and resources per
minute, what the slow clients got, and the targets. It exits 1 if a 5xx, a failed
request or a lost write was seen. `--smoke` runs seconds, with small timeouts.
All traffic goes to 127.0.0.1, and every loop ends with the run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.common import PROJECT_DIR, machine
from bench.slow_clients import KINDS, SlowClients
from bench.soak_report import Sample, report, targets
from harness.server_process import Server
from launcher.connection_limits import ConnectionLimits

SLOW_CLIENTS = {"idle": 4, "kept_alive": 4, "dripping_head": 4, "dripping_body": 4}
SLOW_CLIENTS["not_reading"] = 2
SMOKE_LIMITS = {  # so the slow clients come and go many times in a few seconds
    "TORRENTINO_HEADER_TIMEOUT_MS": "500",
    "TORRENTINO_BODY_TIMEOUT_MS": "500",
    "TORRENTINO_KEEPALIVE_TIMEOUT_MS": "500",
    "TORRENTINO_SEND_TIMEOUT_MS": "1000",
}
REQUEST_TIMEOUT = 60  # seconds: longer than any of the server's own limits
MAX_REQUESTS_PER_CLIENT = 2_000_000  # a second bound on each client's loop


@dataclass
class Ledger:
    """Every request the ordinary clients made, and every write the server acknowledged."""

    started: float = field(default_factory=time.monotonic)
    answered: list[tuple[float, str, int, float]] = field(default_factory=list)  # t, op, status, s
    failures: list[str] = field(default_factory=list)
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> body and ETag
    cancelled: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, operation: str, response: requests.Response, seconds: float) -> None:
        with self.lock:
            self.answered.append(
                (time.monotonic() - self.started, operation, response.status_code, seconds)
            )


def _client(url: str, ledger: Ledger, seed: int, until: float) -> None:
    """One ordinary client: a keep-alive session, a few ms between requests."""
    rng = random.Random(seed)
    mine: list[str] = []
    tickets = f"{url}/api/v1/tickets"
    with requests.Session() as session:
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() >= until:
                return
            roll = rng.random()
            started = time.perf_counter()
            try:
                if mine and roll < 0.3:
                    operation = "get"
                    response = session.get(f"{tickets}/{rng.choice(mine)}", timeout=REQUEST_TIMEOUT)
                elif roll < 0.45:
                    operation = "list"
                    state = rng.choice(["", "&state=pending", "&state=cancelled"])
                    response = session.get(f"{tickets}?limit=20{state}", timeout=REQUEST_TIMEOUT)
                elif mine and roll < 0.6:
                    operation = "cancel"
                    ticket_id = mine.pop(rng.randrange(len(mine)))
                    response = session.delete(f"{tickets}/{ticket_id}", timeout=REQUEST_TIMEOUT)
                    if response.status_code == 200:
                        with ledger.lock:
                            ledger.cancelled[ticket_id] = {
                                **response.json(),
                                "etag": response.headers["ETag"],
                            }
                else:
                    operation = "create"
                    body: dict[str, Any] = {
                        "priority": rng.randrange(0, 65536),
                        "query_context": {"tags": [f"soak-{seed}"], "description": f"soak {roll}"},
                        "dest_path": f"/media/soak/{seed}",
                    }
                    response = session.post(tickets, json=body, timeout=REQUEST_TIMEOUT)
                    if response.status_code == 201:
                        created = response.json()
                        with ledger.lock:
                            ledger.created[created["id"]] = {
                                **created,
                                "etag": response.headers["ETag"],
                            }
                        mine.append(created["id"])
            except requests.RequestException as error:
                with ledger.lock:
                    ledger.failures.append(f"client {seed}: {type(error).__name__}: {error}")
                continue
            ledger.note(operation, response, time.perf_counter() - started)
            time.sleep(rng.uniform(0.0, 0.02))


def lost_writes(db_path: Path, ledger: Ledger) -> list[str]:
    """Every acknowledged create and cancel that the database does not hold as acknowledged."""
    conn = sqlite3.connect(db_path)
    try:
        rows = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT id, json_extract(state, '$.type'), updated_at, priority, dest_path"
                " FROM tickets"
            )
        }
    finally:
        conn.close()
    lost = []
    for ticket_id, created in ledger.created.items():
        final = ledger.cancelled.get(ticket_id, created)
        expected = (
            "cancelled" if ticket_id in ledger.cancelled else "pending",
            json.loads(str(final["etag"])),
            created["priority"],
            created["dest_path"],
        )
        if rows.get(ticket_id) != expected:
            lost.append(f"{ticket_id}: acknowledged {expected}, stored {rows.get(ticket_id)}")
    return lost


@dataclass
class SoakResult:
    """What one soak measured and found."""

    seconds: float
    limits: ConnectionLimits
    ledger: Ledger
    samples: list[Sample]
    slow_outcomes: Counter[tuple[str, str]]
    slow_connections: int
    lost: list[str]
    check_output: str
    check_ok: bool

    def server_errors(self) -> int:
        return sum(1 for _, _, status, _ in self.ledger.answered if status >= 500)

    def ok(self) -> bool:
        """Every target met: no 5xx, no failed request, no lost write, a consistent
        database, threads bounded, and resources flat over the run."""
        return all(met for _, _, met in targets(self))


def run(
    workdir: Path,
    *,
    seconds: float,
    clients: int,
    slow: dict[str, int],
    env: dict[str, str] | None = None,
    sample_every: float = 5.0,
) -> SoakResult:
    """Soak a fresh server in `workdir` for `seconds`."""
    db_path = workdir / "soak.db"
    ledger = Ledger()
    samples: list[Sample] = []
    with Server(db_path, env=env, log_path=workdir / "soak-server.log") as server:
        limits = ConnectionLimits.from_environment({**os.environ, **(env or {})})
        ledger.started = time.monotonic()
        until = ledger.started + seconds
        threads = [
            threading.Thread(target=_client, args=(server.url, ledger, seed, until), daemon=True)
            for seed in range(clients)
        ]
        with SlowClients(("127.0.0.1", server.port), slow, drip_interval=0.5) as slow_clients:
            for thread in threads:
                thread.start()
            while time.monotonic() < until:
                at = time.monotonic() - ledger.started
                rss, _ = server.memory_mb()
                samples.append(Sample(at, rss, server.thread_count(), server.fd_count()))
                time.sleep(min(sample_every, max(0.0, until - time.monotonic())))
            for thread in threads:
                thread.join(timeout=REQUEST_TIMEOUT + 30)
            slow_outcomes = slow_clients.outcome_counts()
            slow_connections = slow_clients.connections_opened
    check = subprocess.run(
        [sys.executable, "-m", "chalicelib.check", str(db_path)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return SoakResult(
        seconds=seconds,
        limits=limits,
        ledger=ledger,
        samples=samples,
        slow_outcomes=slow_outcomes,
        slow_connections=slow_connections,
        lost=lost_writes(db_path, ledger),
        check_output=(check.stdout + check.stderr).strip().splitlines()[-1].split(": ", 1)[-1],
        check_ok=check.returncode == 0,
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="ordinary clients (default 8)")
    parser.add_argument("--out", type=Path, help="also write the tables to this file")
    parser.add_argument("--workdir", type=Path, help="where the database goes (default: temp)")
    parser.add_argument(
        "--smoke", action="store_true", help="6 seconds, small timeouts, few clients (for tests)"
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="torrentino-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if args.smoke:
            result = run(
                workdir,
                seconds=min(args.minutes * 60, 6.0),
                clients=2,
                slow=dict.fromkeys(KINDS, 1),
                env=SMOKE_LIMITS,
                sample_every=0.5,
            )
        else:
            result = run(
                workdir, seconds=args.minutes * 60, clients=args.clients, slow=SLOW_CLIENTS
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    text = "\n".join(table.render() for table in [machine(), *report(result)])
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    for failure in result.ledger.failures[:10]:
        print(failure, file=sys.stderr)
    for lost in result.lost[:10]:
        print(lost, file=sys.stderr)
    return 0 if result.ok() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
