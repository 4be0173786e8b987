"""Keys and roles on a Lambda deployment: the `keys` function (what `chalice invoke -n keys`
or `aws lambda invoke` calls) creates, lists and revokes keys with no shell; the secret is
in its answer once and in no log. And `service_started` is recorded once per cold start,
of the API's containers and of the keys function's."""

from __future__ import annotations

import fcntl
import sqlite3
from pathlib import Path
from typing import Any

from chalicelib.storage import migrations
from chalicelib.storage.lock import lock_path
from harness.lambda_harness import ApiGateway, Container, Package
from tests.deploy.conftest import OPEN_TO_NETWORK, StartContainer
from tests.helpers import example_ticket


def keys(container: Container, payload: dict[str, Any]) -> dict[str, Any]:
    answer = container.invoke(payload)
    assert "error" not in answer, answer
    result: dict[str, Any] = answer["result"]
    return result


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_keys_and_roles_administered_by_invocation(
    package: Package, start_container: StartContainer
) -> None:
    api = start_container()
    admin_tool = start_container("Keys")
    assert admin_tool.handler == "app.keys"
    gateway = ApiGateway.execute_api(package, api)
    tickets = gateway.url("/api/v1/tickets")

    root = keys(admin_tool, {"command": "create", "user": "root", "role": "admin"})
    alice = keys(admin_tool, {"command": "create", "user": "alice"})
    bob = keys(admin_tool, {"command": "create", "user": "bob", "role": "user"})
    assert (root["role"], alice["role"]) == ("admin", "user")

    # Keys exist: the API is closed to callers without one, in the API's error shape.
    assert gateway.request("GET", tickets).status == 401
    assert gateway.request("GET", tickets, headers=bearer("trn_" + "0" * 60)).status == 401
    mine = gateway.request(
        "POST", tickets, headers=bearer(alice["key"]), json_body=example_ticket()
    )
    assert mine.status == 201 and mine.json()["created_by"] == "alice"
    location = mine.header("Location")
    assert location is not None
    # A user may not cancel another's ticket, nor complete one; an admin may.
    assert gateway.request("DELETE", location, headers=bearer(bob["key"])).status == 403
    complete = f"{location}/complete"
    assert gateway.request("POST", complete, headers=bearer(alice["key"])).status == 403
    assert gateway.request("POST", complete, headers={"X-Api-Key": root["key"]}).status == 200
    # A user's audit view holds its own tickets' events only.
    audit = gateway.request("GET", gateway.url("/api/v1/audit"), headers=bearer(bob["key"]))
    assert audit.json()["events"] == []

    listed = keys(admin_tool, {"command": "list"})
    assert [k["user"] for k in listed["keys"]] == ["root", "alice", "bob"]
    revoked = keys(admin_tool, {"command": "revoke", "key_id": alice["id"]})
    assert revoked["revoked_at"] is not None
    assert gateway.request("GET", tickets, headers=bearer(alice["key"])).status == 401

    refused = admin_tool.invoke({"command": "create", "user": "alice", "role": "owner"})
    assert refused["result"]["error"]["code"] == "invalid_input"

    secrets = [root["key"], alice["key"], bob["key"]]
    assert not any(key in repr(listed) for key in secrets)
    for container in (api, admin_tool):
        log = container.log()
        assert not any(key in log for key in secrets), "a key was logged"


def service_starts(efs: Path) -> list[int]:
    conn = sqlite3.connect(efs / "torrentino.db")
    try:
        rows = conn.execute(
            "SELECT id FROM audit_events WHERE event_type = 'service_started' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    return [row[0] for row in rows]


def test_service_started_is_recorded_once_per_cold_start(
    package: Package, start_container: StartContainer, efs: Path
) -> None:
    # Open to the network, so no key (and no keys function) is involved: only starts count.
    first = ApiGateway.execute_api(package, start_container(extra_env=OPEN_TO_NETWORK))
    for _ in range(3):  # one cold start, then warm invocations of the same container
        assert first.request("GET", first.url("/api/v1/tickets")).status == 200
    assert len(service_starts(efs)) == 1
    second = ApiGateway.execute_api(package, start_container(extra_env=OPEN_TO_NETWORK))
    for _ in range(2):
        assert second.request("GET", second.url("/api/v1/tickets")).status == 200
    assert len(service_starts(efs)) == 2
    events = first.request("GET", first.url("/api/v1/audit?event_type=service_started"))
    versions = [e["data"]["schema_version"] for e in events.json()["events"]]
    assert versions == [len(migrations.MIGRATIONS)] * 2


def test_the_keys_function_records_service_started_once_per_cold_start(
    start_container: StartContainer, efs: Path
) -> None:
    first = start_container("Keys")
    keys(first, {"command": "create", "user": "root", "role": "admin"})  # on a new volume
    for _ in range(2):  # warm invocations of the same container
        keys(first, {"command": "list"})
    assert len(service_starts(efs)) == 1
    keys(start_container("Keys"), {"command": "list"})
    assert len(service_starts(efs)) == 2
    conn = sqlite3.connect(efs / "torrentino.db")
    try:
        rows = conn.execute(
            "SELECT actor, json_extract(data, '$.schema_version') FROM audit_events "
            "WHERE event_type = 'service_started'"
        ).fetchall()
    finally:
        conn.close()
    assert rows == [("system", len(migrations.MIGRATIONS))] * 2


def test_the_keys_function_answers_in_the_error_shape_while_a_restore_runs(
    start_container: StartContainer, efs: Path
) -> None:
    database = efs / "torrentino.db"
    migrations.migrate(database)
    with open(lock_path(database), "ab") as restoring:
        fcntl.flock(restoring, fcntl.LOCK_EX)  # what a restore holds while it runs
        refused = start_container("Keys").invoke({"command": "list"})
    assert refused["result"]["error"]["code"] == "storage_unavailable"
    assert "being restored" in refused["result"]["error"]["message"]
    assert service_starts(efs) == []
