"""Destinations and API keys over HTTP (chalice.test.Client): who may do what, the rule
destinations make for tickets, and a key's secret shown once."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from tests.handler.conftest import Api
from tests.helpers import example_ticket, row_counts

MOVIES = {"name": "Movies", "root": "/media/movies", "tags": ["movie"]}


def as_key(key: str) -> dict[str, str]:
    return {"X-Api-Key": key}


@pytest.fixture
def keys(handler_db: Path) -> dict[str, str]:
    return {
        "admin": create_key(handler_db, "root", Role.ADMIN)[1],
        "alice": create_key(handler_db, "alice", Role.USER)[1],
    }


def test_an_admin_adds_a_destination_and_tickets_must_go_inside(
    api: Api, keys: dict[str, str], handler_db: Path
) -> None:
    admin = as_key(keys["admin"])
    status, added, headers = api.call("POST", "/api/v1/destinations", MOVIES, headers=admin)
    assert status == 201, added
    assert headers["Location"] == f"/api/v1/destinations/{added['id']}"
    status, listed, _ = api.call("GET", "/api/v1/destinations", headers=as_key(keys["alice"]))
    assert status == 200 and listed == {"destinations": [added]}
    before = row_counts(handler_db)
    outside = example_ticket(dest_path="/media/movies-old/moana")
    status, error, _ = api.call("POST", "/api/v1/tickets", outside, headers=as_key(keys["alice"]))
    assert status == 400
    assert error["error"]["details"][0]["field"] == "dest_path"
    assert "Movies (/media/movies)" in error["error"]["message"]
    assert row_counts(handler_db) == before
    inside = example_ticket(dest_path="/media/movies/moana")
    assert api.call("POST", "/api/v1/tickets", inside, headers=as_key(keys["alice"]))[0] == 201
    status, removed, _ = api.call("DELETE", f"/api/v1/destinations/{added['id']}", headers=admin)
    assert status == 200 and removed == added
    assert api.call("POST", "/api/v1/tickets", outside, headers=as_key(keys["alice"]))[0] == 201


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/destinations", MOVIES),
        ("DELETE", "/api/v1/destinations/x", None),
        ("GET", "/api/v1/keys", None),
        ("POST", "/api/v1/keys", {"user": "mallory", "role": "admin"}),
        ("DELETE", "/api/v1/keys/0123456789ab", None),
    ],
)
def test_a_user_may_not_manage_destinations_or_keys(
    api: Api, keys: dict[str, str], method: str, path: str, body: object
) -> None:
    before = api.call("GET", "/api/v1/audit", headers=as_key(keys["admin"]))[1]["total"]
    status, error, _ = api.call(method, path, body, headers=as_key(keys["alice"]))
    assert status == 403, error
    assert error["error"]["code"] == "forbidden"
    assert api.call("GET", "/api/v1/audit", headers=as_key(keys["admin"]))[1]["total"] == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Movies", "root": "media"}, "root"),
        ({"name": "Movies", "root": "/"}, "root"),
        ({"name": "Movies", "root": "/a/../etc"}, "root"),
        ({"name": "", "root": "/media"}, "name"),
        ({"name": "Movies"}, "root"),
        ({"name": "Movies", "root": "/media", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_destination_is_a_400_naming_the_field(
    api: Api, keys: dict[str, str], body: dict[str, str], field: str
) -> None:
    status, error, _ = api.call("POST", "/api/v1/destinations", body, headers=as_key(keys["admin"]))
    assert status == 400
    assert error["error"]["details"][0]["field"] == field


def test_removing_an_unknown_destination_is_a_404(api: Api, keys: dict[str, str]) -> None:
    status, error, _ = api.call(
        "DELETE", "/api/v1/destinations/nope", headers=as_key(keys["admin"])
    )
    assert (status, error["error"]["code"]) == (404, "destination_not_found")


def test_an_admin_creates_lists_and_revokes_keys_and_the_secret_is_shown_once(
    api: Api, keys: dict[str, str]
) -> None:
    admin = as_key(keys["admin"])
    status, created, _ = api.call("POST", "/api/v1/keys", {"user": "carol"}, headers=admin)
    assert status == 201, created
    assert created["user"] == "carol" and created["role"] == "user"
    assert created["key"].startswith("trn_")
    assert api.call("GET", "/api/v1/me", headers=as_key(created["key"]))[1]["name"] == "carol"
    status, listed, _ = api.call("GET", "/api/v1/keys", headers=admin)
    assert status == 200
    assert [k["user"] for k in listed["keys"]] == ["root", "alice", "carol"]
    assert created["key"] not in str(listed)
    assert all("key" not in k and "secret_hash" not in k for k in listed["keys"])
    status, revoked, _ = api.call("DELETE", f"/api/v1/keys/{created['id']}", headers=admin)
    assert status == 200 and revoked["revoked_at"] is not None
    assert api.call("GET", "/api/v1/me", headers=as_key(created["key"]))[0] == 401
    status, events, _ = api.call("GET", "/api/v1/audit?event_type=api_key_created", headers=admin)
    assert [e["data"]["user"] for e in events["events"]][-1] == "carol"
    assert created["key"] not in str(events)


@pytest.mark.parametrize("user", ["system", "anonymous", "has space", ""])
def test_a_reserved_or_malformed_user_name_is_refused(
    api: Api, keys: dict[str, str], user: str
) -> None:
    status, error, _ = api.call(
        "POST", "/api/v1/keys", {"user": user}, headers=as_key(keys["admin"])
    )
    assert status == 400, error
    assert error["error"]["details"][0]["field"] == "user"


def test_in_open_mode_the_first_key_made_over_http_ends_open_mode(api: Api) -> None:
    assert api.call("GET", "/api/v1/me")[1]["open_mode"] is True
    status, created, _ = api.call("POST", "/api/v1/keys", {"user": "owner", "role": "admin"})
    assert status == 201
    assert api.call("GET", "/api/v1/me")[0] == 401
    me = api.call("GET", "/api/v1/me", headers=as_key(created["key"]))[1]
    assert me == {"name": "owner", "role": "admin", "open_mode": False}
