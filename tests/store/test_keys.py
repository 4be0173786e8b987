"""API keys and identity resolution against a real SQLite file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.errors import InvalidInput, KeyNotFound, Unauthenticated
from chalicelib.keys.identity import ANONYMOUS, Identity, Role, presented_key, resolve_identity
from chalicelib.keys.store import create_key, list_keys, revoke_key
from chalicelib.storage import db

PROJECT_DIR = Path(__file__).resolve().parents[2]


def resolve(path: Path, headers: dict[str, str]) -> Identity:
    with db.connect(path) as conn:
        return resolve_identity(conn, headers, "127.0.0.1")


def dump(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"authorization": "Bearer abc"}, "abc"),
        ({"authorization": "bearer  abc "}, "abc"),
        ({"x-api-key": "abc"}, "abc"),
        ({"authorization": "Bearer abc", "x-api-key": "other"}, "abc"),
    ],
)
def test_presented_key_reads_both_headers(headers: dict[str, str], expected: str | None) -> None:
    assert presented_key(headers) == expected


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "abc"])
def test_a_malformed_authorization_header_is_refused(value: str) -> None:
    with pytest.raises(Unauthenticated, match="Bearer"):
        presented_key({"authorization": value})


def test_open_mode_while_no_key_exists(db_path: Path) -> None:
    assert resolve(db_path, {}) == ANONYMOUS
    assert resolve(db_path, {"x-api-key": "anything"}) == ANONYMOUS


def test_a_valid_key_resolves_to_its_user_and_role(db_path: Path) -> None:
    _, alice_key = create_key(db_path, "alice", Role.USER)
    _, root_key = create_key(db_path, "root", Role.ADMIN)
    assert resolve(db_path, {"authorization": f"Bearer {alice_key}"}) == Identity(
        name="alice", role=Role.USER
    )
    assert resolve(db_path, {"x-api-key": root_key}).role is Role.ADMIN


def test_once_a_key_exists_requests_need_a_valid_one(db_path: Path) -> None:
    info, key = create_key(db_path, "alice", Role.USER)
    wrong_secret = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    unknown_id = key.replace(info.id, "0" * 12)
    for headers in (
        {},
        {"x-api-key": ""},
        {"x-api-key": "not-a-key"},
        {"x-api-key": wrong_secret},
        {"x-api-key": unknown_id},
        {"authorization": "Bearer " + key + "x"},
    ):
        with pytest.raises(Unauthenticated):
            resolve(db_path, headers)


def test_a_revoked_key_stops_working_at_once(db_path: Path) -> None:
    info, key = create_key(db_path, "alice", Role.USER)
    assert resolve(db_path, {"x-api-key": key}).name == "alice"
    revoked = revoke_key(db_path, info.id)
    assert revoked.revoked_at is not None
    with pytest.raises(Unauthenticated, match="invalid or revoked"):
        resolve(db_path, {"x-api-key": key})
    assert revoke_key(db_path, info.id).revoked_at == revoked.revoked_at


def test_keys_are_random_and_only_their_hash_is_stored(db_path: Path) -> None:
    keys = {create_key(db_path, f"user{n}", Role.USER)[1] for n in range(20)}
    assert len(keys) == 20
    for key in keys:
        secret = key.split("_", 2)[2]
        assert len(secret) >= 43  # 256 bits, url-safe base64
    contents = dump(db_path)
    for key in keys:
        assert key.split("_", 2)[2] not in contents


def test_key_events_are_audited_without_secrets(db_path: Path) -> None:
    info, key = create_key(db_path, "alice", Role.ADMIN)
    revoke_key(db_path, info.id)
    conn = sqlite3.connect(db_path)
    rows = conn.execute(
        "SELECT event_type, data FROM audit_events WHERE event_type LIKE 'api_key_%' ORDER BY id"
    ).fetchall()
    conn.close()
    assert [r[0] for r in rows] == ["api_key_created", "api_key_revoked"]
    assert all(key.split("_", 2)[2] not in r[1] for r in rows)
    assert info.id in rows[0][1]


def test_list_keys_never_shows_secrets(db_path: Path) -> None:
    created, key = create_key(db_path, "alice", Role.USER)
    (listed,) = list_keys(db_path)
    assert listed == created
    assert key not in listed.model_dump_json()


@pytest.mark.parametrize("user", ["", "anonymous", "system", "has space", "x" * 65, "-dash"])
def test_bad_user_names_are_refused(db_path: Path, user: str) -> None:
    with pytest.raises(InvalidInput):
        create_key(db_path, user, Role.USER)
    assert list_keys(db_path) == []


def test_revoking_an_unknown_key_raises(db_path: Path) -> None:
    with pytest.raises(KeyNotFound):
        revoke_key(db_path, "000000000000")


def run_cli(db_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chalicelib.keys", "--db", str(db_path), *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_command_line_creates_lists_and_revokes(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    created = run_cli(path, "create", "alice", "--role", "admin")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert resolve(path, {"x-api-key": key}) == Identity(name="alice", role=Role.ADMIN)
    key_id = key.split("_")[1]
    listed = run_cli(path, "list")
    assert key_id in listed.stdout
    assert "alice" in listed.stdout
    assert key not in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout
    revoked = run_cli(path, "revoke", key_id)
    assert revoked.returncode == 0
    assert "revoked" in run_cli(path, "list").stdout
    with pytest.raises(Unauthenticated):
        resolve(path, {"x-api-key": key})
    missing = run_cli(path, "revoke", "ffffffffffff")
    assert missing.returncode == 1
    assert "no API key" in missing.stderr
    bad = run_cli(path, "create", "anonymous")
    assert bad.returncode == 1
