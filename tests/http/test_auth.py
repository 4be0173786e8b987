"""API keys over real HTTP, and that secrets never reach a response or the server log."""

from __future__ import annotations

from pathlib import Path

import requests

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key, revoke_key
from harness.server_process import Server
from tests.helpers import example_ticket


def test_keys_roles_and_secrecy_over_http(tmp_path: Path) -> None:
    server = Server(tmp_path / "auth.db").start()
    try:
        base = f"{server.url}/api/v1"
        # Open mode first: no key exists yet.
        open_ticket = requests.post(f"{base}/tickets", json=example_ticket(), timeout=10).json()
        assert open_ticket["created_by"] == "anonymous"

        admin_info, admin = create_key(server.db_path, "root", Role.ADMIN)
        alice_info, alice = create_key(server.db_path, "alice", Role.USER)
        _, bob = create_key(server.db_path, "bob", Role.USER)

        for headers in ({}, {"X-Api-Key": "nope"}, {"Authorization": "Token " + alice}):
            refused = requests.get(f"{base}/tickets", headers=headers, timeout=10)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "unauthorized"

        mine = requests.post(
            f"{base}/tickets",
            json=example_ticket(),
            headers={"Authorization": f"Bearer {alice}"},
            timeout=10,
        )
        assert mine.status_code == 201
        assert mine.json()["created_by"] == "alice"
        theirs = requests.post(
            f"{base}/tickets", json=example_ticket(), headers={"X-Api-Key": bob}, timeout=10
        ).json()

        forbidden = requests.delete(
            f"{base}/tickets/{theirs['id']}", headers={"X-Api-Key": alice}, timeout=10
        )
        assert forbidden.status_code == 403
        assert forbidden.json()["error"]["code"] == "forbidden"
        allowed = requests.delete(
            f"{base}/tickets/{theirs['id']}", headers={"X-Api-Key": admin}, timeout=10
        )
        assert allowed.status_code == 200
        assert allowed.json()["state"]["cancelled"]["cancelled_by"] == "root"

        alice_audit = requests.get(f"{base}/audit", headers={"X-Api-Key": alice}, timeout=10)
        assert {e["data"]["ticket_id"] for e in alice_audit.json()["events"]} == {mine.json()["id"]}

        revoke_key(server.db_path, alice_info.id)
        after = requests.get(f"{base}/tickets", headers={"X-Api-Key": alice}, timeout=10)
        assert after.status_code == 401

        admin_audit = requests.get(
            f"{base}/audit?limit=1000", headers={"Authorization": f"Bearer {admin}"}, timeout=10
        ).text
        assert admin_info.id in admin_audit
    finally:
        server.stop()
    log = server.log()
    assert "GET /api/v1/tickets" in log  # the log is real and was read
    for key in (admin, alice, bob):
        secret = key.split("_", 2)[2]
        assert secret not in log
        assert secret not in admin_audit
