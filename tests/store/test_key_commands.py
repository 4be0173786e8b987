"""Key administration by invocation payload (the `keys` Lambda function's logic), against a
real SQLite file. The Lambda-shaped tests invoke it as Lambda does (tests/deploy/)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from chalicelib.actors import INVOKE_ACTOR
from chalicelib.api.key_commands import run_key_command
from chalicelib.keys.identity import Identity, Role, resolve_identity
from chalicelib.storage import db


def resolve(path: Path, key: str) -> Identity:
    with db.connect(path) as conn:
        return resolve_identity(conn, {"authorization": f"Bearer {key}"}, "127.0.0.1")


def key_events(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT event_type, actor FROM audit_events WHERE event_type LIKE 'api_key_%'"
            " ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


def test_create_list_revoke(db_path: Path) -> None:
    created = run_key_command({"command": "create", "user": "alice", "role": "admin"}, db_path)
    assert created["user"] == "alice" and created["role"] == "admin"
    assert created["revoked_at"] is None
    assert resolve(db_path, created["key"]) == Identity(name="alice", role=Role.ADMIN)
    user = run_key_command({"command": "create", "user": "bob"}, db_path)
    assert user["role"] == "user"

    listed = run_key_command({"command": "list"}, db_path)
    assert [k["id"] for k in listed["keys"]] == [created["id"], user["id"]]
    assert created["key"] not in repr(listed) and user["key"] not in repr(listed)
    assert all(set(k) == {"id", "user", "role", "created_at", "revoked_at"} for k in listed["keys"])

    revoked = run_key_command({"command": "revoke", "key_id": user["id"]}, db_path)
    assert revoked["id"] == user["id"] and revoked["revoked_at"] is not None
    assert key_events(db_path) == [
        ("api_key_created", INVOKE_ACTOR),
        ("api_key_created", INVOKE_ACTOR),
        ("api_key_revoked", INVOKE_ACTOR),
    ]


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"command": "create", "user": "alice", "role": "root"}, "invalid_input", "role"),
        ({"command": "create"}, "invalid_input", "user"),
        ({"command": "create", "user": "admin-invoke"}, "invalid_input", "user"),
        ({"command": "create", "user": "no spaces"}, "invalid_input", "user"),
        ({"command": "list", "verbose": True}, "invalid_input", "verbose"),
        ({"command": "drop"}, "invalid_input", "command"),
        ({}, "invalid_input", "command"),
        ("create alice", "invalid_input", "command"),
        (None, "invalid_input", "command"),
        ({"command": "revoke", "key_id": "000000000000"}, "key_not_found", None),
    ],
)
def test_a_bad_command_is_refused_with_the_api_error_shape_and_changes_nothing(
    db_path: Path, payload: Any, code: str, field: str | None
) -> None:
    answer = run_key_command(payload, db_path)
    assert set(answer) == {"error"}
    assert answer["error"]["code"] == code
    assert answer["error"]["message"]
    if field is not None:
        assert field in [d["field"] for d in answer["error"]["details"]]
    assert run_key_command({"command": "list"}, db_path) == {"keys": []}
    assert key_events(db_path) == []
