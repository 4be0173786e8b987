"""Open mode is for this machine only, over real sockets from another "machine".

The other machine is a network namespace this module makes (`tests/other_machine.py`),
joined to this one by a veth pair on a /30 of 198.18.0.0/15 (set aside for benchmarking,
RFC 2544, routed nowhere). Its requests reach the server as they would from the LAN: over
the server's address on that link, from an address that is not loopback. Needs root, as
CI has.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from harness.server_process import LAUNCHER, PLAIN_CHALICE_LOCAL, PROJECT_DIR, Server
from tests.helpers import example_ticket, row_counts
from tests.network.conftest import PATIENCE
from tests.other_machine import OtherMachine

FIRST_KEY_COMMAND = 'make keys ARGS="create <name> --role admin"'
EVERY_ADDRESS = ["--host", "0.0.0.0"]  # as `make run HOST=0.0.0.0`


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
