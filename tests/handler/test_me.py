"""`GET /api/v1/me`: who the caller is, for clients that offer only what the role allows."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key, revoke_key
from tests.handler.conftest import Api


def test_open_mode_answers_the_anonymous_admin(api: Api) -> None:
    status, body, _ = api.call("GET", "/api/v1/me")
    assert status == 200
    assert body == {"name": "anonymous", "role": "admin", "open_mode": True}


@pytest.mark.parametrize(("user", "role"), [("alice", Role.ADMIN), ("bob", Role.USER)])
def test_a_key_answers_its_user_and_role(api: Api, handler_db: Path, user: str, role: Role) -> None:
    key = create_key(handler_db, user, role)[1]
    status, body, _ = api.call("GET", "/api/v1/me", headers={"X-Api-Key": key})
    assert status == 200
    assert body == {"name": user, "role": role.value, "open_mode": False}
    status, body, _ = api.call("GET", "/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert body["name"] == user


def test_once_a_key_exists_me_needs_a_valid_one(api: Api, handler_db: Path) -> None:
    info, key = create_key(handler_db, "carol", Role.USER)
    assert api.call("GET", "/api/v1/me")[0] == 401
    status, body, headers = api.call("GET", "/api/v1/me", headers={"X-Api-Key": key + "x"})
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert "WWW-Authenticate" in headers
    revoke_key(handler_db, info.id)
    assert api.call("GET", "/api/v1/me", headers={"X-Api-Key": key})[0] == 401


def test_me_is_in_the_openapi_document(api: Api) -> None:
    doc = api.call("GET", "/api/v1/openapi.json")[1]
    operation = doc["paths"]["/api/v1/me"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WhoAmI"
    }
    schema = doc["components"]["schemas"]["WhoAmI"]
    assert set(schema["required"]) == {"name", "role", "open_mode"}
