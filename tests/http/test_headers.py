"""Headers every answer carries, from the real server (issue 19): `X-Content-Type-Options:
nosniff` on every answer, errors and the launcher's own refusals included, and
`Cache-Control: no-store` on every answer of the API that depends on the caller's key."""

from __future__ import annotations

import json
import select
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from chalicelib.storage import migrations
from harness.server_process import Server
from tests.helpers import example_ticket

PATIENCE = 60  # seconds; not a measurement


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    """A server with an admin's key and a user's key (so every API answer needs one), and
    short waits for a request's head."""
    db_path = tmp_path_factory.mktemp("headers") / "torrentino.db"
    migrations.migrate(db_path)
    _, admin = create_key(db_path, "root", Role.ADMIN)
    _, user = create_key(db_path, "alice", Role.USER)
    with Server(db_path, env={"TORRENTINO_HEADER_TIMEOUT_MS": "500"}) as server:
        yield server, admin, user


def raw(server: Server, sent: bytes) -> dict[str, str]:
    """The status and headers the server answers `sent` with (then closes), lower-cased."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=PATIENCE) as sock:
        sock.sendall(sent)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = {
        name.lower(): value.strip() for name, _, value in (h.partition(":") for h in head[1:])
    }
    headers[":status"] = head[0].split()[1]
    return headers


def api_answers(server: Server, admin: str, user: str) -> dict[str, requests.Response]:
    """An answer of each kind the API gives to a caller with a key, or for want of one."""
    base = f"{server.url}/api/v1"
    as_admin, as_user = {"X-Api-Key": admin}, {"Authorization": f"Bearer {user}"}
    created = requests.post(
        f"{base}/tickets", json=example_ticket(), headers=as_user, timeout=PATIENCE
    )
    ticket = f"{base}/tickets/{created.json()['id']}"
    missing = f"{base}/tickets/00000000-0000-4000-8000-000000000000"
    return {
        "201 create": created,
        "200 list": requests.get(f"{base}/tickets", headers=as_user, timeout=PATIENCE),
        "200 get": requests.get(ticket, headers=as_user, timeout=PATIENCE),
        "200 history": requests.get(f"{ticket}/history", headers=as_user, timeout=PATIENCE),
        "200 audit": requests.get(f"{base}/audit", headers=as_admin, timeout=PATIENCE),
        "200 me": requests.get(f"{base}/me", headers=as_user, timeout=PATIENCE),
        "200 backups": requests.get(f"{base}/backups", headers=as_admin, timeout=PATIENCE),
        "401 no key": requests.get(f"{base}/tickets", timeout=PATIENCE),
        "401 bad key": requests.get(f"{base}/me", headers={"X-Api-Key": "nope"}, timeout=PATIENCE),
        "403": requests.post(f"{ticket}/complete", headers=as_user, timeout=PATIENCE),
        "404 ticket": requests.get(missing, headers=as_user, timeout=PATIENCE),
        "400": requests.get(f"{base}/tickets?limit=0", headers=as_user, timeout=PATIENCE),
        "412": requests.delete(
            ticket, headers={**as_user, "If-Match": '"stale"'}, timeout=PATIENCE
        ),
        "200 cancel": requests.delete(ticket, headers=as_user, timeout=PATIENCE),
        "409": requests.delete(ticket, headers=as_user, timeout=PATIENCE),
    }


def test_every_answer_that_depends_on_a_key_is_not_stored_and_not_sniffed(
    keyed: tuple[Server, str, str],
) -> None:
    server, admin, user = keyed
    for kind, response in api_answers(server, admin, user).items():
        assert str(response.status_code) == kind.split()[0], (kind, response.text)
        assert response.headers["Cache-Control"] == "no-store", kind
        assert response.headers["X-Content-Type-Options"] == "nosniff", kind


def test_every_other_answer_is_not_sniffed(keyed: tuple[Server, str, str]) -> None:
    server, admin, _ = keyed
    base = f"{server.url}/api/v1"
    answers = {
        "200 health": requests.get(f"{base}/health", timeout=PATIENCE),
        "200 openapi": requests.get(f"{base}/openapi.json", timeout=PATIENCE),
        "200 page": requests.get(f"{server.url}/", timeout=PATIENCE),
        "404 page file": requests.get(f"{server.url}/ui/nothing.js", timeout=PATIENCE),
        "404 route": requests.get(
            f"{base}/nothing", headers={"X-Api-Key": admin}, timeout=PATIENCE
        ),
        "405": requests.put(f"{base}/tickets", headers={"X-Api-Key": admin}, timeout=PATIENCE),
        "415": requests.post(
            f"{base}/tickets",
            data="{}",
            headers={"X-Api-Key": admin, "Content-Type": "text/plain"},
            timeout=PATIENCE,
        ),
    }
    for kind, response in answers.items():
        assert str(response.status_code) == kind.split()[0], (kind, response.text)
        assert response.headers["X-Content-Type-Options"] == "nosniff", kind


@pytest.mark.parametrize(
    ("sent", "status"),
    [
        (b"GET /api/v1/health HTTP/1.1 extra\r\n\r\n", "400"),  # bad request line
        (b"POST /api/v1/tickets HTTP/1.1\r\nContent-Length: 9999999\r\n\r\n", "413"),
        (b"POST /api/v1/tickets HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "400"),
        (b"GET /api/v1/health HTTP/1.1\r\n" + b"X-Big: " + b"y" * 70_000 + b"\r\n\r\n", "431"),
        (b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\n", "408"),  # the head never ends
    ],
    ids=["400 request line", "413", "400 chunked", "431", "408"],
)
def test_the_launchers_own_refusals_are_not_sniffed(
    keyed: tuple[Server, str, str], sent: bytes, status: str
) -> None:
    headers = raw(keyed[0], sent)
    assert headers[":status"] == status
    assert headers["x-content-type-options"] == "nosniff"


def test_the_launchers_503_is_not_sniffed(tmp_path: Path) -> None:
    """With its one place taken by a create that waits for the write lock, the server
    answers a new connection with its own 503."""
    env = {"TORRENTINO_MAX_CONNECTIONS": "1", "TORRENTINO_BUSY_TIMEOUT_MS": "60000"}
    with Server(tmp_path / "torrentino.db", env=env) as server:
        holder = sqlite3.connect(server.db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        creating = create_that_waits(server)
        try:
            refused = until(lambda: requests.get(f"{server.url}/api/v1/health", timeout=PATIENCE))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
            creating.close()
    assert refused.json()["error"]["code"] == "server_busy"
    assert refused.headers["X-Content-Type-Options"] == "nosniff"


def create_that_waits(server: Server) -> socket.socket:
    """A connection whose create the server has taken and is serving (it waits for the
    write lock): sent again until the server does not refuse it at once, since a health
    request of the test's may hold the one place at that moment."""
    body = json.dumps(example_ticket()).encode()
    head = (
        "POST /api/v1/tickets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    for _ in range(100):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=PATIENCE)
        sock.sendall(head.encode() + body)
        if not select.select([sock], [], [], 0.5)[0]:
            return sock  # nothing back: it is being served, waiting for the lock
        sock.close()
    raise AssertionError("the server refused every create")


def until(ask: Callable[[], requests.Response]) -> requests.Response:
    """The first 503 `ask` gets, asking again while the answer is 200."""
    for _ in range(600):
        answer = ask()
        if answer.status_code == 503:
            return answer
        assert answer.status_code == 200
        threading.Event().wait(0.05)
    raise AssertionError("no 503 while the only place was busy")
