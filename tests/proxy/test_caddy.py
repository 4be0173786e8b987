"""torrentino behind a real Caddy, configured as docs/security.md says, at the root of a
site and under `/torrentino/`, plain HTTP on this machine: the client and the URL are the
ones the proxy forwards, and nobody else's forwarding headers count.

Another machine is a network namespace (`tests/other_machine.py`): Caddy listens on every
address, so it reaches Caddy over this machine's address on their link, from an address
that is not loopback, as a phone on the LAN would. Needs root, as CI has.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.keys.identity import FIRST_KEY_NEEDED, Role
from chalicelib.keys.store import create_key
from harness.server_process import LAUNCHER, Server
from tests.caddy import MOUNTS, TRUST_THIS_MACHINE, Proxied, behind_caddy
from tests.helpers import example_ticket, row_counts, until_not_busy
from tests.manual_guide import walk_manual_testing_guide
from tests.other_machine import OtherMachine

PATIENCE = 30.0  # seconds: the most a test waits for something that must happen
EVERY_ADDRESS = [*LAUNCHER, "--host", "0.0.0.0"]  # as `make run HOST=0.0.0.0`
FORGED = (  # what a client might send to pass for this machine
    {"X-Forwarded-For": "127.0.0.1"},
    {"Forwarded": "for=127.0.0.1;host=localhost"},
    {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "localhost"},
)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; fail after `PATIENCE` seconds."""
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {PATIENCE:g} s: {what}")
        time.sleep(0.02)


@pytest.fixture(params=sorted(MOUNTS))
def proxied(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Proxied]:
    """A server on an empty database behind Caddy, at the root and under a path."""
    with behind_caddy(tmp_path, request.param) as running:
        yield running


def origin(proxied: Proxied) -> str:
    """Where a path-absolute link (`/torrentino/api/...`) resolves: the proxy's origin."""
    return f"http://127.0.0.1:{proxied.port}"


def first_key_needed(reply: Any) -> bool:
    """Whether `reply` is open mode's 401, saying how to create the first key."""
    error = reply["error"]
    return bool(error["code"] == "unauthorized" and error["message"] == FIRST_KEY_NEEDED)


def server_log_names(server: Server, address: str) -> bool:
    """Whether a line of the server's log begins with `address` as the client's."""
    return any(line.startswith(f"{address} - - [") for line in server.log().splitlines())


def test_the_seeds_walkthrough_through_the_proxy(proxied: Proxied) -> None:
    cancelled = walk_manual_testing_guide(f"{proxied.url}/api/v1")
    # Served as this machine's anonymous admin: Caddy forwarded 127.0.0.1.
    assert cancelled["created_by"] == "anonymous"


def follow(session: requests.Session, proxied: Proxied, first: str) -> list[dict[str, Any]]:
    """Every page from `first` on, following `next` and `Link` through the proxy."""
    pages = []
    url: str | None = first
    while url is not None:
        assert url.startswith(f"{proxied.prefix}/api/v1/"), url
        response = session.get(origin(proxied) + url, timeout=PATIENCE)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        url = response.json()["next"]
        assert response.headers.get("Link") == (f'<{url}>; rel="next"' if url else None)
    return pages


def test_every_link_given_out_leads_back_through_the_proxy(proxied: Proxied) -> None:
    session = requests.Session()
    ids = []
    for priority in (1, 2, 3):
        created = session.post(
            f"{proxied.url}/api/v1/tickets", json=example_ticket(priority=priority), timeout=30
        )
        assert created.status_code == 201, created.text
        location = created.headers["Location"]
        assert location == f"{proxied.prefix}/api/v1/tickets/{created.json()['id']}"
        assert session.get(origin(proxied) + location, timeout=30).json() == created.json()
        ids.append(created.json()["id"])
    pages = follow(session, proxied, f"{proxied.prefix}/api/v1/tickets?limit=2")
    assert [t["id"] for page in pages for t in page["tickets"]] == list(reversed(ids))
    events = follow(session, proxied, f"{proxied.prefix}/api/v1/audit?limit=1")
    assert len(events) == 4  # service_started and the three creations
    document = session.get(f"{proxied.url}/api/v1/openapi.json", timeout=30).json()
    assert document["servers"] == [{"url": f"{proxied.prefix}/"}]
    server_url = origin(proxied) + document["servers"][0]["url"].rstrip("/")
    assert session.get(f"{server_url}/api/v1/health", timeout=30).json() == {"status": "ok"}
    # The page, and the files its relative URLs name, under the mount.
    page = session.get(f"{proxied.url}/", timeout=30)
    assert page.status_code == 200 and 'src="ui/app.js"' in page.text
    assert session.get(f"{proxied.url}/ui/app.js", timeout=30).status_code == 200
    if proxied.prefix:  # the mount without its slash leads to the page's folder
        bare = session.get(origin(proxied) + proxied.prefix, allow_redirects=False, timeout=30)
        assert (bare.status_code, bare.headers["Location"]) == (301, f"{proxied.prefix}/")


def test_open_mode_is_refused_to_a_client_the_proxy_forwards_from_another_address(
    proxied: Proxied, other_machine: OtherMachine
) -> None:
    tickets = f"{proxied.url_from(other_machine.server_address)}/api/v1/tickets"
    before = row_counts(proxied.server.db_path)
    for method, body in (("POST", example_ticket()), ("GET", None)):
        status, reply = other_machine.request(method, tickets, body)
        assert status == 401 and first_key_needed(reply), reply
    for forged in FORGED:  # Caddy replaces or drops what the client says of itself
        status, reply = other_machine.request("POST", tickets, example_ticket(), forged)
        assert status == 401 and first_key_needed(reply), (forged, reply)
    assert row_counts(proxied.server.db_path) == before
    # This machine, through the same proxy, is served.
    created = requests.post(f"{proxied.url}/api/v1/tickets", json=example_ticket(), timeout=30)
    assert (created.status_code, created.json()["created_by"]) == (201, "anonymous")
    # The server's log names each client, not the proxy.
    assert server_log_names(proxied.server, other_machine.own_address)
    assert server_log_names(proxied.server, "127.0.0.1")


def test_a_forged_x_forwarded_for_from_an_untrusted_peer_is_ignored(
    other_machine: OtherMachine, tmp_path: Path
) -> None:
    server = Server(tmp_path / "torrentino.db", command=EVERY_ADDRESS, env=TRUST_THIS_MACHINE)
    with server:
        direct = f"http://{other_machine.server_address}:{server.port}/api/v1/tickets"
        forged = {**FORGED[0], **FORGED[1], "X-Forwarded-Prefix": "/evil"}
        status, reply = other_machine.request("POST", direct, example_ticket(), forged)
        assert status == 401 and first_key_needed(reply), reply
        # From a trusted proxy's address, a request that names no client is remote too.
        local = requests.post(f"{server.url}/api/v1/tickets", json=example_ticket(), timeout=30)
        assert local.status_code == 401 and first_key_needed(local.json())
        assert row_counts(server.db_path)[0] == 0
        # With a key, the forged prefix does not reach the links either.
        key = {"X-Api-Key": create_key(server.db_path, "household", Role.ADMIN)[1]}
        for _ in range(2):
            status, _ = other_machine.request("POST", direct, example_ticket(), {**forged, **key})
            assert status == 201
        status, page = other_machine.request("GET", f"{direct}?limit=1", None, {**forged, **key})
        assert status == 200 and page["next"].startswith("/api/v1/tickets?")
        assert server_log_names(server, other_machine.own_address)


def test_the_share_of_places_counts_for_the_client_the_proxy_forwards(
    other_machine: OtherMachine, tmp_path: Path
) -> None:
    cap = 8  # four places for each client
    env = {"TORRENTINO_MAX_CONNECTIONS": str(cap), "TORRENTINO_BUSY_TIMEOUT_MS": "120000"}
    answers: list[int] = []
    refusals: list[Any] = []
    with behind_caddy(tmp_path, "root", env) as proxied:
        server = proxied.server
        key = {"X-Api-Key": create_key(server.db_path, "phone", Role.USER)[1]}
        tickets = f"{proxied.url_from(other_machine.server_address)}/api/v1/tickets"

        def create(n: int) -> None:
            headers = {**key, "Idempotency-Key": f"share-{n}"}

            def send() -> int:
                return other_machine.request("POST", tickets, example_ticket(), headers)[0]

            answers.append(until_not_busy(send))

        def refused() -> bool:
            status, reply = other_machine.request("GET", tickets, None, key)
            assert status in (200, 503), reply
            if status == 503:
                refusals.append(reply)
            return bool(refusals)

        holder = sqlite3.connect(server.db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # every create waits on this write lock
        creators = [threading.Thread(target=create, args=(n,)) for n in range(cap // 2)]
        try:
            for creator in creators:
                creator.start()
            wait_for(refused, "a 503 while the other machine's share is busy")
            # This machine, through the same proxy, still has places of its own.
            health = requests.get(f"{proxied.url}/api/v1/health", timeout=30)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        for creator in creators:
            creator.join(timeout=4 * PATIENCE)
        assert row_counts(server.db_path)[0] == cap // 2
    assert answers == [201] * (cap // 2)
    (error,) = (reply["error"] for reply in refusals)
    assert error["code"] == "server_busy"
    assert "this client address is using all the 4 connections" in error["message"]
    assert health.status_code == 200


def test_an_entry_that_is_neither_an_address_nor_a_range_stops_the_server(tmp_path: Path) -> None:
    setting = {"TORRENTINO_TRUSTED_PROXIES": "127.0.0.1, proxy"}
    server = Server(tmp_path / "torrentino.db", env=setting)
    with pytest.raises(RuntimeError, match="TORRENTINO_TRUSTED_PROXIES: 'proxy' is neither"):
        server.start()
