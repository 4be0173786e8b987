"""API keys and roles through chalice.test.Client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key, revoke_key
from tests.handler.conftest import Api
from tests.helpers import example_ticket, row_counts


class Keys:
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.admin = create_key(db_path, "root", Role.ADMIN)[1]
        self.alice = create_key(db_path, "alice", Role.USER)[1]
        self.bob = create_key(db_path, "bob", Role.USER)[1]


@pytest.fixture
def keys(handler_db: Path) -> Keys:
    return Keys(handler_db)


def as_key(key: str, header: str = "bearer") -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if header == "bearer" else {"X-Api-Key": key}


def create(api: Api, key: str, **overrides: Any) -> dict[str, Any]:
    status, ticket, _ = api.call(
        "POST", "/api/v1/tickets", example_ticket(**overrides), headers=as_key(key)
    )
    assert status == 201, ticket
    return dict(ticket)


def test_open_mode_everyone_is_anonymous(api: Api) -> None:
    status, ticket, _ = api.call("POST", "/api/v1/tickets", example_ticket())
    assert status == 201
    assert ticket["created_by"] == "anonymous"
    status, _, _ = api.call("DELETE", f"/api/v1/tickets/{ticket['id']}")
    assert status == 200
    assert api.call("GET", "/api/v1/audit")[0] == 200


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_both_headers_identify_the_caller(api: Api, keys: Keys, header: str) -> None:
    status, ticket, _ = api.call(
        "POST", "/api/v1/tickets", example_ticket(), headers=as_key(keys.alice, header)
    )
    assert status == 201
    assert ticket["created_by"] == "alice"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer trn_000000000000_" + "A" * 43},
        {"X-Api-Key": "wrong"},
        {"Authorization": "Basic cm9vdDpyb290"},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "unknown", "wrong", "basic-scheme", "empty-bearer"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/tickets"), ("POST", "/api/v1/tickets"), ("GET", "/api/v1/audit")],
)
def test_no_valid_key_is_401_and_writes_nothing(
    api: Api, keys: Keys, headers: dict[str, str], method: str, path: str
) -> None:
    before = row_counts(keys.db_path)
    body = example_ticket() if method == "POST" else None
    status, payload, response_headers = api.call(method, path, body, headers=headers)
    assert status == 401
    assert payload["error"]["code"] == "unauthorized"
    assert response_headers["WWW-Authenticate"].startswith("Bearer")
    assert row_counts(keys.db_path) == before


def test_a_revoked_key_is_refused_at_once(api: Api, keys: Keys) -> None:
    assert api.call("GET", "/api/v1/tickets", headers=as_key(keys.alice))[0] == 200
    revoke_key(keys.db_path, keys.alice.split("_")[1])
    status, payload, _ = api.call("GET", "/api/v1/tickets", headers=as_key(keys.alice))
    assert status == 401
    assert payload["error"]["message"] == "invalid or revoked API key"


def test_a_user_reads_and_lists_every_ticket(api: Api, keys: Keys) -> None:
    theirs = create(api, keys.bob)
    status, fetched, _ = api.call(
        "GET", f"/api/v1/tickets/{theirs['id']}", headers=as_key(keys.alice)
    )
    assert (status, fetched) == (200, theirs)
    _, page, _ = api.call("GET", "/api/v1/tickets", headers=as_key(keys.alice))
    assert [t["id"] for t in page["tickets"]] == [theirs["id"]]


def test_a_user_cancels_its_own_ticket_only(api: Api, keys: Keys) -> None:
    mine = create(api, keys.alice)
    theirs = create(api, keys.bob)
    status, cancelled, _ = api.call(
        "DELETE", f"/api/v1/tickets/{mine['id']}", headers=as_key(keys.alice)
    )
    assert status == 200
    assert cancelled["state"]["cancelled"]["cancelled_by"] == "alice"
    before = row_counts(keys.db_path)
    status, payload, _ = api.call(
        "DELETE", f"/api/v1/tickets/{theirs['id']}", headers=as_key(keys.alice)
    )
    assert status == 403
    assert payload["error"]["code"] == "forbidden"
    assert row_counts(keys.db_path) == before
    assert api.call("GET", f"/api/v1/tickets/{theirs['id']}", headers=as_key(keys.bob))[1] == theirs


def test_an_admin_cancels_any_ticket(api: Api, keys: Keys) -> None:
    theirs = create(api, keys.bob)
    status, cancelled, _ = api.call(
        "DELETE", f"/api/v1/tickets/{theirs['id']}", headers=as_key(keys.admin, "x-api-key")
    )
    assert status == 200
    assert cancelled["state"]["cancelled"]["cancelled_by"] == "root"


def test_audit_visibility_by_role(api: Api, keys: Keys) -> None:
    mine = create(api, keys.alice)
    theirs = create(api, keys.bob)
    api.call("DELETE", f"/api/v1/tickets/{theirs['id']}", headers=as_key(keys.bob))
    _, alice_view, _ = api.call("GET", "/api/v1/audit", headers=as_key(keys.alice))
    assert {e["data"]["ticket_id"] for e in alice_view["events"]} == {mine["id"]}
    assert alice_view["total"] == 1
    _, alice_filtered, _ = api.call(
        "GET", f"/api/v1/audit?ticket_id={theirs['id']}", headers=as_key(keys.alice)
    )
    assert alice_filtered["events"] == []
    _, admin_view, _ = api.call("GET", "/api/v1/audit?limit=1000", headers=as_key(keys.admin))
    types = [e["event_type"] for e in admin_view["events"]]
    assert types.count("api_key_created") == 3
    assert types.count("ticket_created") == 2
    assert types.count("ticket_cancelled") == 1


def test_identity_flows_into_audit_events(api: Api, keys: Keys) -> None:
    ticket = create(api, keys.alice)
    api.call("DELETE", f"/api/v1/tickets/{ticket['id']}", headers=as_key(keys.admin))
    _, page, _ = api.call(
        "GET", f"/api/v1/audit?ticket_id={ticket['id']}", headers=as_key(keys.admin)
    )
    created, cancelled = page["events"]
    assert created["data"]["created_by"] == "alice"
    assert cancelled["data"]["cancelled_by"] == "root"


def test_list_filters_by_creator(api: Api, keys: Keys) -> None:
    mine = create(api, keys.alice)
    create(api, keys.bob)
    _, page, _ = api.call("GET", "/api/v1/tickets?created_by=alice", headers=as_key(keys.bob))
    assert [t["id"] for t in page["tickets"]] == [mine["id"]]
    assert page["total"] == 1
    _, nobody, _ = api.call("GET", "/api/v1/tickets?created_by=carol", headers=as_key(keys.bob))
    assert nobody["total"] == 0
    status, _, _ = api.call("GET", "/api/v1/tickets?created_by=", headers=as_key(keys.bob))
    assert status == 400


def test_no_secret_appears_in_any_response(api: Api, keys: Keys) -> None:
    ticket = create(api, keys.alice)
    responses = [
        api.call("GET", "/api/v1/tickets", headers=as_key(keys.admin)),
        api.call("GET", f"/api/v1/tickets/{ticket['id']}", headers=as_key(keys.alice)),
        api.call("GET", "/api/v1/audit?limit=1000", headers=as_key(keys.admin)),
        api.call("GET", "/api/v1/tickets", headers={"X-Api-Key": keys.alice + "x"}),
        api.call("DELETE", f"/api/v1/tickets/{ticket['id']}", headers=as_key(keys.alice)),
    ]
    text = json.dumps([payload for _, payload, _ in responses])
    for key in (keys.admin, keys.alice, keys.bob):
        assert key.split("_", 2)[2] not in text
