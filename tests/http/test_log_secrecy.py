"""No key reaches a log: keys sent every way a client might (headers, the query parameters
clients written for the *arr apps use, a path, a malformed request line) against the real
server, then every file the server wrote (its log: stdout and stderr; the database and its
journal) is searched for them (issue 19, threat 4)."""

from __future__ import annotations

import socket
from pathlib import Path

import requests

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key, revoke_key
from chalicelib.storage import migrations
from harness.server_process import Server
from tests.helpers import example_ticket

QUERY_NAMES = ("api_key", "apikey", "key", "token", "access_token", "X-Api-Key")
# A secret that is not one of our keys: the API key of another service, pasted by mistake.
FOREIGN_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def raw_request(server: Server, request_line: str) -> bytes:
    """Send one request line by hand (as no HTTP library would) and read the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(f"{request_line}\r\nHost: localhost\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def send_every_way(server: Server, key: str) -> int:
    """Send `key` every way a client might; return how many requests were sent."""
    base = f"{server.url}/api/v1"
    sent: list[requests.Response] = [
        requests.get(f"{base}/me", headers={"X-Api-Key": key}, timeout=30),
        requests.get(f"{base}/me", headers={"Authorization": f"Bearer {key}"}, timeout=30),
        requests.get(f"{base}/me", headers={"Authorization": key}, timeout=30),  # no scheme
    ]
    for name in QUERY_NAMES:
        sent.append(requests.get(f"{base}/me", params={name: key}, timeout=30))
        sent.append(requests.get(f"{base}/tickets", params={"limit": "5", name: key}, timeout=30))
        sent.append(
            requests.post(f"{base}/tickets", params={name: key}, json=example_ticket(), timeout=30)
        )
    if key.startswith("trn_"):  # one of ours in the path (paths are logged: they name tickets)
        sent.append(requests.get(f"{base}/{key}", timeout=30))  # no such route
        sent.append(requests.get(f"{base}/tickets/{key}", headers={"X-Api-Key": key}, timeout=30))
    assert all(response.status_code < 500 for response in sent)
    malformed = [
        f"GET /api/v1/me?apikey={key} HTTP/1.1 extra",  # bad request syntax
        f"GET /api/v1/me?apikey={key} HTTP/9.9",  # bad version
        f"GET /api/v1/me?a=b apikey={key} HTTP/1.1",
    ]
    for line in malformed:
        assert b"invalid_input" in raw_request(server, line)
    return len(sent) + len(malformed)


def test_no_key_sent_in_any_way_reaches_any_file_the_server_writes(tmp_path: Path) -> None:
    db_path = tmp_path / "data" / "torrentino.db"
    migrations.migrate(db_path)
    _, valid = create_key(db_path, "alice", Role.ADMIN)
    revoked_info, revoked = create_key(db_path, "bob", Role.USER)
    revoke_key(db_path, revoked_info.id)
    unknown = "trn_0123456789ab_" + "A" * 43
    log_path = tmp_path / "data" / "server.log"
    with Server(db_path, log_path=log_path) as server:
        sent = sum(send_every_way(server, key) for key in (valid, revoked, unknown, FOREIGN_SECRET))
    log = log_path.read_text(errors="replace")
    # The log is real and was read: a line for each request, the query left out.
    assert log.count('"GET /api/v1/me') >= 4 * (3 + len(QUERY_NAMES))
    assert "/api/v1/me?(query not logged)" in log
    assert log.count(" - - [") >= sent
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert log_path in written and db_path in written
    for key in (valid, revoked, unknown, FOREIGN_SECRET):
        # A key is trn_<id>_<secret>, and the secret itself may hold "_".
        secret = key.split("_", 2)[-1]
        assert len(secret) >= 32, key
        for path in written:
            assert secret.encode() not in path.read_bytes(), (path, key)
