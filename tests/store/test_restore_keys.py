"""A restore never widens access (issue 19, threat 2): keys revoked in the live database
stay revoked, keys made since the backup keep working, a server that had keys never
comes back in open mode, and what the restore did to keys is printed and in the audit
log, which still explains every key. Real files, the real functions and command line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from chalicelib.backups import backup
from chalicelib.backups.check import check_database
from chalicelib.backups.restore import restore_backup
from chalicelib.errors import Unauthenticated
from chalicelib.keys.identity import (
    ANONYMOUS,
    Identity,
    Role,
    hash_key,
    new_key,
    resolve_identity,
)
from chalicelib.keys.store import create_key, list_keys, revoke_key
from chalicelib.service import startup
from chalicelib.storage import db, migrations
from tests.store.test_hostile_backups import HIDDEN_KEY_AT, Live, tamper


def who(path: Path, key: str | None) -> Identity:
    """Who a request from this machine is, with `key` (or none)."""
    with db.connect(path) as conn:
        return resolve_identity(conn, {"x-api-key": key} if key else {}, "127.0.0.1")


def refused(path: Path, key: str | None) -> bool:
    try:
        who(path, key)
    except Unauthenticated:
        return True
    return False


def key_events(path: Path) -> list[tuple[str, dict[str, object]]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT event_type, data FROM audit_events"
            " WHERE event_type LIKE 'api_key_%' OR event_type = 'backup_restored' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    return [(kind, json.loads(data)) for kind, data in rows]


@pytest.fixture
def live(tmp_path: Path) -> Live:
    """Alice's admin key and a ticket, backed up."""
    return Live(tmp_path)


def restore(live: Live) -> list[str]:
    """`make restore FILE=<the backup>`; the lines it printed about keys."""
    result = live.cli("backup", "restore", live.backup.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert check_database(live.db).ok, check_database(live.db).problems
    return [line for line in result.stdout.splitlines() if line.startswith(("keys", "  "))]


def test_a_key_revoked_after_the_backup_stays_revoked(live: Live) -> None:
    bob, bob_key = create_key(live.db, "bob", Role.USER)
    live.backup = live.backups / backup.create_backup(live.db, actor="admin-cli").name
    revoked = revoke_key(live.db, bob.id)

    printed = restore(live)

    assert refused(live.db, bob_key)
    assert who(live.db, live.admin_key).name == "alice"
    assert printed == [
        "keys: 1 as in the live database",
        f"keys: revoked, as in the live database: {bob.id} bob (user)",
    ]
    [info] = [info for info in list_keys(live.db) if info.id == bob.id]
    assert info.revoked_at == revoked.revoked_at  # the time it was revoked, kept
    *_, (kind, data), (_, restored) = key_events(live.db)
    assert kind == "api_key_revoked" and data["key_id"] == bob.id
    assert restored["keys"] == {
        "live_keys": "read",
        "kept": 1,
        "carried_over": [],
        "revoked": [bob.id],
        "unchecked": [],
    }


def test_keys_created_after_the_backup_are_carried_over(live: Live) -> None:
    carol, carol_key = create_key(live.db, "carol", Role.USER)
    dave, dave_key = create_key(live.db, "dave", Role.ADMIN)
    revoke_key(live.db, dave.id)  # made and revoked since: carried over, revoked

    printed = restore(live)

    assert who(live.db, carol_key) == Identity(name="carol", role=Role.USER)
    assert refused(live.db, dave_key)
    assert who(live.db, live.admin_key).name == "alice"
    assert printed == [
        "keys: 1 as in the live database",
        f"keys: carried over from the live database: {carol.id} carol (user), active",
        f"keys: carried over from the live database: {dave.id} dave (admin), revoked",
    ]
    carried = [data for kind, data in key_events(live.db) if data.get("carried_over_from")]
    assert [(d["key_id"], "revoked_at" in d) for d in carried] == [
        (carol.id, False),
        (dave.id, False),
        (dave.id, True),
    ]


def test_a_start_up_backup_taken_before_the_first_key_does_not_reopen_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path = tmp_path / "torrentino.db"
    monkeypatch.setenv("TORRENTINO_BACKUP_EVERY_HOURS", "24")
    startup.ensure_started(db_path)  # what the server does at start-up: migrate, then
    try:  # its backup thread's first look, which finds one due
        first = backup.backup_if_due(db_path)
    finally:
        startup.stop(db_path)
    assert first is not None and first.tickets == 0
    assert who(db_path, None) == ANONYMOUS  # the backup's moment: open mode
    _, key = create_key(db_path, "alice", Role.ADMIN)

    done = restore_backup(db_path.parent / "backups" / first.name, db_path, actor="admin-cli")

    assert not done.keys.open_mode
    with pytest.raises(Unauthenticated, match="API key is required"):
        who(db_path, None)
    assert who(db_path, key).name == "alice"
    assert check_database(db_path).ok


def test_a_backup_key_unknown_to_the_live_database_is_revoked(live: Live) -> None:
    # Hidden with a forged created event too, so it passes the consistency check.
    key_id, key = new_key()
    tamper(
        live.backup,
        "INSERT INTO api_keys (id, user, role, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        params=(key_id, "mallory", "admin", hash_key(key), HIDDEN_KEY_AT),
    )
    tamper(
        live.backup,
        "INSERT INTO audit_events (event_type, timestamp, actor, data)"
        " VALUES ('api_key_created', ?, 'admin-cli', ?)",
        params=(HIDDEN_KEY_AT, json.dumps({"key_id": key_id, "user": "mallory", "role": "admin"})),
    )
    assert check_database(live.backup).ok

    printed = restore(live)

    assert refused(live.db, key)
    assert f"keys: revoked, not in the live database: {key_id} mallory (admin)" in printed


def test_a_backup_key_with_another_secret_than_the_live_one_is_revoked(live: Live) -> None:
    _, forged = new_key()  # alice's key id, an attacker's secret
    tamper(live.backup, "UPDATE api_keys SET secret_hash = ?", params=(hash_key(forged),))
    [alice] = list_keys(live.db)

    printed = restore(live)

    assert refused(live.db, forged)
    assert refused(live.db, live.admin_key)  # the id is spoiled: alice needs a new key
    assert printed == [
        "keys: revoked, differs from the live database's key with this id: "
        f"{alice.id} alice (admin)"
    ]


def test_onto_a_new_installation_the_backups_keys_come_back_listed(live: Live) -> None:
    [alice] = list_keys(live.db)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{live.db}{suffix}").unlink(missing_ok=True)
    migrations.migrate(live.db)  # a new disk, and the server started once: no key yet

    printed = restore(live)

    assert who(live.db, live.admin_key).name == "alice"
    assert printed == [
        "keys: the live database had none to compare with (it has no key), so the backup's "
        'keys are as they were; revoke any you do not know (make keys ARGS="revoke <id>"):',
        f"  {alice.id} alice (admin)",
    ]
