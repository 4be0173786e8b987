"""Upgrading a database that an older torrentino made: the older code is checked out from
this repository's own history (not a fixture written by hand), runs its own migrations and
makes tickets, events and keys through its own server and command line; then this code
starts on the file. Every ticket, event and key is still there, the log says which steps
ran, and the database as it was is kept in a verified, restorable "before upgrade" backup.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.backups import restore
from chalicelib.backups.check import check_database
from chalicelib.backups.files import list_backups, read_manifest, sha256_of
from chalicelib.backups.kinds import BackupKind
from chalicelib.storage import migrations
from harness.server_process import LAUNCHER, PROJECT_DIR, Server, free_port
from tests.helpers import example_ticket
from tests.store.test_upgrade import at_schema, with_tickets

TIMEOUT = 60
# Commits of this repository's first-parent history, and the schema their code makes:
# the last commit before migration 9, and the first with idempotent creates (schema 6).
OLD_COMMITS = {
    "836ee991b6bd0035a945ca4019f30b62312acebd": 8,
    "6a9e525b90bb60ae99cb88a7173e804d6ddfab0c": 6,
}


def git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=PROJECT_DIR, capture_output=True, check=False)


def checkout(commit: str, into: Path) -> Path:
    """The tree of `commit`, from this repository's history, extracted into `into`.

    Fails (never skips) when the history does not hold the commit: a shallow clone, say.
    """
    if git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        shallow = git("rev-parse", "--is-shallow-repository").stdout.strip() == b"true"
        pytest.fail(
            f"commit {commit} is not in this clone's history"
            + (" (it is a shallow clone: run `git fetch --unshallow`)" if shallow else "")
            + "; this test builds its database with that commit's own code"
        )
    archive = git("archive", "--format=tar", commit)
    assert archive.returncode == 0, archive.stderr
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


@dataclass
class OldData:
    """What the older torrentino was given to keep."""

    keys: dict[str, str] = field(default_factory=dict)  # user -> key
    revoked: str = ""  # a key revoked before the upgrade
    tickets: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    key_rows: list[tuple[Any, ...]] = field(default_factory=list)


def old_keys(tree: Path, db: Path, *args: str) -> str:
    """Run the older code's own `python -m chalicelib.keys`; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "chalicelib.keys", *args],
        cwd=tree,
        env={**os.environ, "TORRENTINO_DB_PATH": str(db), "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def fill_with_old_code(tree: Path, db: Path) -> OldData:
    """Tickets in every state, keys (one revoked) and their events, all made by the old code."""
    data = OldData()
    old_server = Server(db, command=[sys.executable, str(tree / "tools" / "local_server.py")])
    with old_server as server, requests.Session() as session:
        url = f"{server.url}/api/v1/tickets"
        ids = []
        for n in range(6):  # open mode: this machine is the anonymous admin
            body = example_ticket(priority=n, dest_path=f"/media/old/{n}")
            created = session.post(url, json=body, timeout=TIMEOUT)
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        cancel = session.delete(f"{url}/{ids[0]}", json={"reason": "old"}, timeout=TIMEOUT)
        assert cancel.status_code == 200, cancel.text
        assert session.post(f"{url}/{ids[1]}/complete", timeout=TIMEOUT).status_code == 200
        failed = session.post(f"{url}/{ids[2]}/fail", json={"error": "no seeds"}, timeout=TIMEOUT)
        assert failed.status_code == 200, failed.text
        for user, role in (("root", "admin"), ("alice", "user"), ("mallory", "user")):
            data.keys[user] = old_keys(tree, db, "create", user, "--role", role).split()[-1]
        mallory_id = rows(db, "SELECT id FROM api_keys WHERE user = 'mallory'")[0][0]
        old_keys(tree, db, "revoke", mallory_id)
        data.revoked = data.keys.pop("mallory")
        alice = {"Authorization": f"Bearer {data.keys['alice']}"}
        mine = session.post(url, json=example_ticket(), headers=alice, timeout=TIMEOUT)
        assert mine.status_code == 201, mine.text
        root = {"X-Api-Key": data.keys["root"]}
        listed = session.get(f"{url}?limit=100", headers=root, timeout=TIMEOUT).json()
        data.tickets = listed["tickets"]
    assert len(data.tickets) == 7
    data.events = rows(
        db, "SELECT id, event_type, timestamp, ticket_id, actor, data FROM audit_events"
    )
    data.key_rows = rows(
        db, "SELECT id, user, role, secret_hash, created_at, revoked_at FROM api_keys"
    )
    return data


def event_tuple(event: dict[str, Any]) -> tuple[Any, ...]:
    return (event["id"], event["event_type"], event["timestamp"], event["data"])


def audit_log(server: Server, key: str) -> Iterator[dict[str, Any]]:
    """Every event of the audit log, as the API serves it, following `next` links."""
    url: str | None = f"{server.url}/api/v1/audit?limit=100"
    while url is not None:
        page = requests.get(url, headers={"X-Api-Key": key}, timeout=TIMEOUT).json()
        yield from page["events"]
        url = f"{server.url}{page['next']}" if page["next"] else None


@pytest.mark.parametrize(("commit", "old_schema"), OLD_COMMITS.items(), ids=lambda v: str(v)[:7])
def test_a_database_made_by_an_older_commit_is_upgraded_whole_with_a_backup_first(
    tmp_path: Path, commit: str, old_schema: int
) -> None:
    tree = checkout(commit, tmp_path / "old")
    db, backups = tmp_path / "data" / "torrentino.db", tmp_path / "data" / "backups"
    db.parent.mkdir()
    old = fill_with_old_code(tree, db)
    assert rows(db, "PRAGMA user_version") == [(old_schema,)]
    current = len(migrations.MIGRATIONS)

    with Server(db) as server:
        root = {"X-Api-Key": old.keys["root"]}
        for ticket in old.tickets:
            got = requests.get(
                f"{server.url}/api/v1/tickets/{ticket['id']}", headers=root, timeout=TIMEOUT
            )
            assert got.status_code == 200, ticket["id"]
            assert got.json() == ticket
        served = list(audit_log(server, old.keys["root"]))
        alice = requests.get(
            f"{server.url}/api/v1/me", headers={"X-Api-Key": old.keys["alice"]}, timeout=TIMEOUT
        )
        assert alice.json()["name"] == "alice" and alice.json()["role"] == "user"
        revoked = requests.get(
            f"{server.url}/api/v1/me", headers={"X-Api-Key": old.revoked}, timeout=TIMEOUT
        )
        assert revoked.status_code == 401
    log = server.log()

    # Every event the old code wrote, unchanged, then the upgrade's backup and the start.
    old_events = [(e[0], e[1], e[2], json.loads(e[5])) for e in old.events]
    assert [event_tuple(e) for e in served[: len(old_events)]] == old_events
    assert [e["event_type"] for e in served[len(old_events) :]] == [
        "backup_created",
        "service_started",
    ]
    upgrade_event = served[len(old_events)]["data"]
    assert upgrade_event["kind"] == "before upgrade"
    assert (upgrade_event["from_schema_version"], upgrade_event["to_schema_version"]) == (
        old_schema,
        current,
    )
    assert (
        rows(db, "SELECT id, user, role, secret_hash, created_at, revoked_at FROM api_keys")
        == old.key_rows
    )
    assert rows(db, "PRAGMA user_version") == [(current,)]
    assert check_database(db).ok

    # The log says what ran, step by step, and how long it took.
    steps = f"(steps {old_schema + 1} to {current})"
    assert f"upgraded {db} from schema {old_schema} to {current} {steps} in" in log
    for number in range(old_schema + 1, current + 1):
        name = migrations.step_name(migrations.MIGRATIONS[number - 1])
        assert f"schema step {number} ({name}) ran in" in log

    # The database as it was: a verified backup of its own kind, named for both schemas.
    [kept] = list_backups(backups, db.stem)
    assert kept.kind is BackupKind.BEFORE_UPGRADE and kept.verified
    assert kept.name.endswith(f"Z-before-upgrade-{old_schema}-to-{current}.db")
    assert upgrade_event["file"] == kept.name
    manifest = read_manifest(backups / kept.name)
    assert manifest is not None and manifest.schema_version == old_schema
    assert (
        rows(
            backups / kept.name,
            "SELECT id, event_type, timestamp, ticket_id, actor, data FROM audit_events",
        )
        == old.events
    )
    assert not restore.verify_backup(backups / kept.name).problems
    elsewhere = tmp_path / "restored" / "torrentino.db"
    restored = restore.restore_backup(backups / kept.name, elsewhere, actor="test")
    assert (restored.from_schema_version, restored.tickets) == (old_schema, len(old.tickets))
    assert check_database(elsewhere).ok

    # A second start finds nothing to upgrade: no second backup.
    with Server(db):
        pass
    assert [b.name for b in list_backups(backups, db.stem)] == [kept.name]


def test_an_upgrade_that_fails_leaves_the_database_as_it_was_and_the_server_refuses_to_start(
    tmp_path: Path,
) -> None:
    """The backup is taken (it only reads), the upgrade cannot write: a read-only file,
    met as any user meets it (`harness/no_dac_override.py`, as the tests run as root)."""
    db = at_schema(tmp_path / "torrentino.db", len(migrations.MIGRATIONS) - 1)
    with_tickets(db)
    before = sha256_of(db)
    db.chmod(0o444)
    launcher = [sys.executable, str(PROJECT_DIR / "harness" / "no_dac_override.py"), *LAUNCHER]
    try:
        refused = subprocess.run(
            [*launcher, "--port", str(free_port())],
            cwd=PROJECT_DIR,
            env={
                **os.environ,
                "TORRENTINO_DB_PATH": str(db),
                "TORRENTINO_BACKUP_EVERY_HOURS": "0",
            },
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        db.chmod(0o644)
    assert refused.returncode == 3, refused.stderr
    assert "torrentino: not starting: upgrading the database" in refused.stderr
    assert "the database is read-only" in refused.stderr
    assert f"It is as it was (schema {len(migrations.MIGRATIONS) - 1})" in refused.stderr
    assert "serving on" not in refused.stdout
    assert sha256_of(db) == before
    [kept] = list_backups(tmp_path / "backups", db.stem)
    assert kept.kind is BackupKind.BEFORE_UPGRADE and kept.verified
    assert f"backed up as {kept.name}" in refused.stderr
