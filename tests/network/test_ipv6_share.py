"""One IPv6 client has a whole /64 of addresses to send from (privacy addresses change by
the hour, and any host may take more), so its share of the launcher's places is counted
for its /64, not for each address: otherwise one machine, naming itself anew for each
connection, takes every place. Behind a trusted proxy on this machine (Caddy listens on
IPv6 too), through the real launcher, with the proxy's `X-Forwarded-For`."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import requests

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from harness.server_process import Server
from tests.helpers import example_ticket, row_counts, until_not_busy
from tests.network.conftest import PATIENCE, wait_for

CAP = 4  # two places for each client
ENV = {
    "TORRENTINO_TRUSTED_PROXIES": "127.0.0.1",
    "TORRENTINO_MAX_CONNECTIONS": str(CAP),
    "TORRENTINO_HEADER_TIMEOUT_MS": "120000",
    "TORRENTINO_BODY_TIMEOUT_MS": "120000",
    "TORRENTINO_KEEPALIVE_TIMEOUT_MS": "120000",
    "TORRENTINO_BUSY_TIMEOUT_MS": "120000",
}


def test_one_ipv6_64_holds_one_share_however_many_addresses_it_sends_from(
    tmp_path: Path,
) -> None:
    with Server(tmp_path / "torrentino.db", env=ENV) as server:
        key = create_key(server.db_path, "phone", Role.USER)[1]
        tickets = f"{server.url}/api/v1/tickets"
        answers: list[int] = []

        def forwarded_for(address: str) -> dict[str, str]:
            return {"X-Api-Key": key, "X-Forwarded-For": address, "Connection": "close"}

        def create(n: int) -> None:
            headers = {**forwarded_for(f"2001:db8::{n + 1}"), "Idempotency-Key": f"v6-{n}"}

            def send() -> int:
                try:
                    return requests.post(
                        tickets, json=example_ticket(), headers=headers, timeout=4 * PATIENCE
                    ).status_code
                except requests.ConnectionError:
                    return 0

            answers.append(until_not_busy(send))

        refusals: list[requests.Response] = []

        def a_third_address_of_the_same_64_is_refused() -> bool:
            response = requests.get(tickets, headers=forwarded_for("2001:db8::99"), timeout=30)
            assert response.status_code in (200, 503), response.text
            if response.status_code == 503:
                refusals.append(response)
            return bool(refusals)

        holder = sqlite3.connect(server.db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # every create waits on this write lock
        creators = [threading.Thread(target=create, args=(n,)) for n in range(CAP // 2)]
        try:
            for creator in creators:
                creator.start()
            wait_for(a_third_address_of_the_same_64_is_refused, "a 503 for the same /64")
            # Another /64 (another machine) still has places of its own.
            other = requests.get(tickets, headers=forwarded_for("2001:db8:0:1::1"), timeout=30)
            assert other.status_code == 200, other.text
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        for creator in creators:
            creator.join(timeout=5 * PATIENCE)
        assert answers == [201] * (CAP // 2)
        assert row_counts(server.db_path)[0] == CAP // 2
    error = refusals[0].json()["error"]
    assert error["code"] == "server_busy"
    assert f"using all the {CAP // 2} connections" in error["message"]
