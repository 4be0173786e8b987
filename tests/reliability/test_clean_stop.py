"""A clean stop: SIGTERM (a service manager) or SIGINT (Ctrl-C) under load loses no
acknowledged write, answers every request the server had begun, and exits 0; `make run`
stopped with Ctrl-C prints no traceback, no `Aborted!` and no make error."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from harness.server_process import PROJECT_DIR, Server, free_port
from tests.helpers import example_ticket

CLIENTS = 8
TIMEOUT = 60
STOP_LINE = re.compile(
    r"torrentino: stopped on (SIGTERM|SIGINT) in [\d.]+ s: (\d+) of (\d+) requests in flight"
)


@dataclass
class Outcomes:
    """Every request the clients sent: what it was for, and its answer or its error."""

    answered: list[tuple[str, str, int, Any]] = field(default_factory=list)
    unanswered: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.answered)


def client(base: str, number: int, outcomes: Outcomes, server_gone: threading.Event) -> None:
    """Creates and cancels its own tickets, each create with a destination of its own,
    until the server has exited; every request's outcome goes into `outcomes`."""
    session = requests.Session()
    mine: list[str] = []
    sent = 0
    while not server_gone.is_set():
        sent += 1
        if mine and sent % 3 == 0:
            operation, target = "cancel", mine.pop()
            method, url, body = "DELETE", f"{base}/api/v1/tickets/{target}", {"reason": "stop"}
        else:
            operation, target = "create", f"/media/stop/{number}/{sent}"
            method, url, body = "POST", f"{base}/api/v1/tickets", example_ticket(dest_path=target)
        try:
            response = session.request(method, url, json=body, timeout=TIMEOUT)
        except requests.RequestException as error:
            with outcomes.lock:
                outcomes.unanswered.append((operation, target, type(error).__name__))
            session.close()
            session = requests.Session()
            time.sleep(0.01)
            continue
        answer = response.json()
        with outcomes.lock:
            outcomes.answered.append((operation, target, response.status_code, answer))
        if operation == "create" and response.status_code == 201:
            mine.append(answer["id"])
    session.close()


def tickets(db: Path) -> dict[str, tuple[str, str]]:
    """dest_path -> (id, state) of every ticket in the database."""
    conn = sqlite3.connect(db)
    try:
        found = conn.execute("SELECT dest_path, id, json_extract(state, '$.type') FROM tickets")
        return {dest: (ticket_id, state) for dest, ticket_id, state in found}
    finally:
        conn.close()


def test_sigterm_under_load_answers_what_it_began_keeps_every_write_and_exits_0(
    tmp_path: Path,
) -> None:
    db = tmp_path / "torrentino.db"
    server = Server(db).start()
    assert server.process is not None
    outcomes, server_gone = Outcomes(), threading.Event()
    threads = [
        threading.Thread(target=client, args=(server.url, n, outcomes, server_gone), daemon=True)
        for n in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while outcomes.count() < 200:
            assert time.monotonic() < deadline, "the clients got too few answers"
            time.sleep(0.01)
        server.process.send_signal(signal.SIGTERM)
        status = server.process.wait(timeout=TIMEOUT)
    finally:
        server_gone.set()
        for thread in threads:
            thread.join(timeout=TIMEOUT)
        server.stop()
    log = server.log()

    assert status == 0, log
    [(_, finished, in_flight)] = STOP_LINE.findall(log)
    assert finished == in_flight  # none cut off
    assert "Traceback" not in log
    stored = tickets(db)
    by_id = {ticket_id: state for ticket_id, state in stored.values()}
    answered_targets = set()
    for operation, target, status_code, answer in outcomes.answered:
        answered_targets.add(target)
        if operation == "create" and status_code == 201:  # acknowledged: it is there
            assert stored[target][0] == answer["id"]
        elif operation == "cancel" and status_code == 200:
            assert by_id[target] == "cancelled"
        else:  # refused while stopping: nothing was done
            assert status_code == 503, answer
            assert answer["error"]["code"] == "server_busy"
            assert "stopping" in answer["error"]["message"]
            assert target not in stored and by_id.get(target) != "cancelled"
    # A request that got no answer at all was never begun: nothing of it is stored.
    for operation, target, _ in outcomes.unanswered:
        if operation == "create":
            assert target not in stored, (target, outcomes.unanswered)
        else:
            assert by_id[target] == "pending", (target, outcomes.unanswered)
    assert len([a for a in outcomes.answered if a[2] in (200, 201)]) >= 200


def test_a_client_with_half_a_request_is_told_the_server_is_stopping(tmp_path: Path) -> None:
    server = Server(tmp_path / "torrentino.db").start()
    assert server.process is not None
    try:
        half = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        half.sendall(b"POST /api/v1/tickets HTTP/1.1\r\nHost: localhost\r\n")
        # Accepted in order of arrival: once a later client is answered, the first is in.
        assert requests.get(f"{server.url}/api/v1/health", timeout=TIMEOUT).status_code == 200
        idle = requests.Session()  # a kept-alive connection, idle: it must not hold the stop
        assert idle.get(f"{server.url}/api/v1/version", timeout=TIMEOUT).status_code == 200
        server.process.send_signal(signal.SIGTERM)
        answer = half.makefile("rb").read()
        status = server.process.wait(timeout=TIMEOUT)
    finally:
        server.stop()
    assert status == 0
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b'"code": "server_busy"' in answer or b'"code":"server_busy"' in answer
    assert b"the server is stopping and did not act on this request" in answer
    assert b"Retry-After: " in answer and b"Connection: close" in answer
    assert "cut off" not in server.log()


def test_ctrl_c_on_make_run_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TORRENTINO_DB_PATH": str(tmp_path / "torrentino.db"),
        "TORRENTINO_BACKUP_EVERY_HOURS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    # `-o` the venv's stamp: the shared .venv is there, whatever the files' dates say.
    make = subprocess.Popen(
        ["make", "-o", ".venv/.installed", "run", f"PORT={port}"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group of its own, as a terminal's job is
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert make.poll() is None, make.communicate()[0]
            try:
                requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "make run did not answer"
                time.sleep(0.1)
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C sends: to the whole foreground group
        output = make.communicate(timeout=TIMEOUT)[0].decode()
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
    assert "Traceback" not in output
    assert "Aborted!" not in output
    assert "make: ***" not in output and "Error" not in output
    [(how, finished, in_flight)] = STOP_LINE.findall(output)
    assert how == "SIGINT" and finished == in_flight
