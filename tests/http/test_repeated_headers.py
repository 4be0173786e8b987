"""A header sent on several lines means all of them, as one comma-separated list (RFC 9110
5.3), behind a trusted proxy too: a proxy may add its own `X-Forwarded-For` or
`Forwarded` line after the one its client sent (HAProxy's `option forwardfor` does; RFC
7239 4 allows it), and the client's own line must not name the client. Over real
sockets, to the launcher, which reads the header lines itself."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from chalicelib.keys.store import list_keys
from chalicelib.settings import TRUSTED_PROXIES_VARIABLE
from harness.server_process import Server

FORGED_THEN_REAL = [
    ["X-Forwarded-For: 127.0.0.1", "X-Forwarded-For: 203.0.113.5"],
    ["Forwarded: for=127.0.0.1", "Forwarded: for=203.0.113.5"],
    ["X-Forwarded-For: 127.0.0.1", "x-forwarded-for: 203.0.113.5"],
    # A quoted string the client leaves open would swallow the proxy's element after it.
    ['Forwarded: for=127.0.0.1;by="', "Forwarded: for=203.0.113.5"],
    ['Forwarded: for=127.0.0.1;by="x\\"', "Forwarded: for=203.0.113.5"],
]


@pytest.fixture(scope="module")
def behind_a_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that trusts this machine as its reverse proxy, with no key yet."""
    db_file = tmp_path_factory.mktemp("proxied") / "torrentino.db"
    running = Server(db_file, env={TRUSTED_PROXIES_VARIABLE: "127.0.0.1"}).start()
    yield running
    running.stop()


def send(server: Server, method: str, path: str, lines: list[str], body: bytes = b"") -> int:
    """One request with exactly these header lines, from this machine (the proxy); its status."""
    head = [f"{method} {path} HTTP/1.1", "Host: localhost", "Connection: close", *lines]
    if body:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_one_line_naming_this_machine_is_this_machine(behind_a_proxy: Server) -> None:
    # The control: the same request with the forged line alone is served in open mode.
    assert send(behind_a_proxy, "GET", "/api/v1/me", ["X-Forwarded-For: 127.0.0.1"]) == 200


@pytest.mark.parametrize("lines", FORGED_THEN_REAL)
def test_a_clients_own_line_before_the_proxys_does_not_make_it_this_machine(
    behind_a_proxy: Server, lines: list[str]
) -> None:
    assert send(behind_a_proxy, "GET", "/api/v1/me", lines) == 401
    first_key = json.dumps({"user": "mallory", "role": "admin"}).encode()
    assert send(behind_a_proxy, "POST", "/api/v1/keys", lines, first_key) == 401
    assert list_keys(behind_a_proxy.db_path) == []


def test_two_host_lines_are_refused(behind_a_proxy: Server) -> None:
    # Host names one host (RFC 9112 3.2 answers two with a 400): neither line is the host.
    for lines in (["Host: evil.example"], ["Host: localhost:8080"]):
        assert send(behind_a_proxy, "GET", "/api/v1/health", lines) == 400
