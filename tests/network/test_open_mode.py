"""Open mode is for this machine only, over real sockets from another "machine".

The other machine is a network namespace this module makes, joined to this one by a
veth pair on a /30 of 198.18.0.0/15 (set aside for benchmarking, RFC 2544, routed
nowhere). Its requests reach the server as they would from the LAN: over the server's
address on that link, from an address that is not loopback. Needs root, as CI has.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.server_process import LAUNCHER, PLAIN_CHALICE_LOCAL, PROJECT_DIR, Server
from tests.helpers import example_ticket, row_counts
from tests.network.conftest import PATIENCE

FIRST_KEY_COMMAND = 'make keys ARGS="create <name> --role admin"'
EVERY_ADDRESS = ["--host", "0.0.0.0"]  # as `make run HOST=0.0.0.0`
CLIENT = """
import json, sys, urllib.error, urllib.request
method, url, body, headers = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
request = urllib.request.Request(url, data=body.encode() or None, method=method, headers=headers)
try:
    with urllib.request.urlopen(request, timeout=30) as response:
        status, data = response.status, response.read()
except urllib.error.HTTPError as error:
    status, data = error.code, error.read()
print(json.dumps({"status": status, "body": json.loads(data)}))
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=PATIENCE)


@dataclass(frozen=True)
class OtherMachine:
    """A network namespace that reaches this machine at `server_address`."""

    namespace: str
    server_address: str
    own_address: str

    def request(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, JSON body) of one request made from inside the namespace."""
        sent_headers = json.dumps({"Content-Type": "application/json", **(headers or {})})
        sent_body = json.dumps(body) if body is not None else ""
        client = [sys.executable, "-c", CLIENT, method, url, sent_body, sent_headers]
        done = subprocess.run(
            ["ip", "netns", "exec", self.namespace, *client],
            check=True,
            capture_output=True,
            text=True,
            timeout=2 * PATIENCE,
        )
        reply = json.loads(done.stdout)
        return reply["status"], reply["body"]


@pytest.fixture(scope="module")
def other_machine() -> Iterator[OtherMachine]:
    tag = f"trn{os.getpid() % 100_000}"  # names of this run's own; interfaces take 15 chars
    link = ipaddress.ip_network("198.18.0.0/15").network_address + 4 * (os.getpid() % 32_768)
    here, there = str(link + 1), str(link + 2)
    try:
        ip("netns", "add", tag)
        ip("link", "add", f"{tag}h", "type", "veth", "peer", "name", f"{tag}o")
        ip("link", "set", f"{tag}o", "netns", tag)
        ip("addr", "add", f"{here}/30", "dev", f"{tag}h")
        ip("link", "set", f"{tag}h", "up")
        ip("-n", tag, "addr", "add", f"{there}/30", "dev", f"{tag}o")
        ip("-n", tag, "link", "set", f"{tag}o", "up")
        yield OtherMachine(tag, here, there)
    finally:
        # Deleting the namespace deletes its end of the pair, and so the pair.
        subprocess.run(["ip", "netns", "del", tag], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", f"{tag}h"], capture_output=True, check=False)


def url_from(other: OtherMachine, server: Server, path: str) -> str:
    return f"http://{other.server_address}:{server.port}{path}"


def create_key(db_path: Path, name: str) -> str:
    """`make keys ARGS="create <name> --role admin"`, on the server's database."""
    done = subprocess.run(
        [sys.executable, "-m", "chalicelib.keys", "create", name, "--role", "admin"],
        cwd=PROJECT_DIR,
        env={**os.environ, "TORRENTINO_DB_PATH": str(db_path)},
        check=True,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    return next(word for word in done.stdout.split() if word.startswith("trn_"))


def test_while_no_key_exists_only_this_machine_is_served(
    other_machine: OtherMachine, tmp_path: Path
) -> None:
    with Server(tmp_path / "torrentino.db", command=[*LAUNCHER, *EVERY_ADDRESS]) as server:
        tickets = url_from(other_machine, server, "/api/v1/tickets")
        before = row_counts(server.db_path)
        for method, body in (("POST", example_ticket()), ("GET", None)):
            status, reply = other_machine.request(method, tickets, body)
            assert status == 401, reply
            assert reply["error"]["code"] == "unauthorized"
            assert FIRST_KEY_COMMAND in reply["error"]["message"]
        assert row_counts(server.db_path) == before
        # Health is public: a monitor on the LAN may still see the server is up.
        health = other_machine.request("GET", url_from(other_machine, server, "/api/v1/health"))
        assert health == (200, {"status": "ok"})

        # Over loopback, the same server is open: anonymous, with every right.
        created = requests.post(f"{server.url}/api/v1/tickets", json=example_ticket(), timeout=30)
        assert created.status_code == 201
        assert created.json()["created_by"] == "anonymous"
        # This machine's own address on the link is not loopback: it counts as the network.
        own = requests.post(
            f"http://{other_machine.server_address}:{server.port}/api/v1/tickets",
            json=example_ticket(),
            timeout=30,
        )
        assert own.status_code == 401

        # The first key closes open mode everywhere; with it, the other machine is served.
        key = create_key(server.db_path, "household")
        status, reply = other_machine.request("POST", tickets, example_ticket(), {"X-Api-Key": key})
        assert (status, reply["created_by"]) == (201, "household")
        status, reply = other_machine.request("GET", tickets)
        assert (status, reply["error"]["code"]) == (401, "unauthorized")
        assert "API key is required" in reply["error"]["message"]
        assert requests.get(f"{server.url}/api/v1/tickets", timeout=30).status_code == 401


def test_the_setting_opens_it_to_a_trusted_network(
    other_machine: OtherMachine, tmp_path: Path
) -> None:
    server = Server(
        tmp_path / "torrentino.db",
        command=[*LAUNCHER, *EVERY_ADDRESS],
        env={"TORRENTINO_OPEN_TO_NETWORK": "1"},
    )
    with server:
        tickets = url_from(other_machine, server, "/api/v1/tickets")
        status, reply = other_machine.request("POST", tickets, example_ticket())
        assert (status, reply["created_by"]) == (201, "anonymous")


def test_plain_chalice_local_refuses_another_machine_by_the_name_it_uses(
    other_machine: OtherMachine, tmp_path: Path
) -> None:
    # Chalice's own local gateway says 127.0.0.1 for every caller, so without the
    # launcher the app cannot tell another machine by its address (docs/security.md).
    # It still can by the name the request uses for this machine: not localhost.
    with Server(tmp_path / "plain.db", command=[*PLAIN_CHALICE_LOCAL, *EVERY_ADDRESS]) as server:
        tickets = url_from(other_machine, server, "/api/v1/tickets")
        status, reply = other_machine.request("POST", tickets, example_ticket())
        assert status == 401
        assert FIRST_KEY_COMMAND in reply["error"]["message"]
