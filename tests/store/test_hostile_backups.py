"""A crafted backup is refused by verify, restore and the consistency check, and nothing in
it runs while it is examined (issue 19, threat 1). Each backup is tampered with as whoever
can write the backup folder could: the file, and its manifest to match."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.backups import backup
from chalicelib.backups.check import check_database
from chalicelib.backups.files import manifest_path, sha256_of
from chalicelib.backups.restore import restore_backup, verify_backup
from chalicelib.errors import BackupUnusable, Unauthenticated
from chalicelib.keys.identity import Identity, Role, hash_key, new_key, resolve_identity
from chalicelib.keys.store import create_key
from chalicelib.storage import db, migrations
from harness.server_process import PROJECT_DIR
from tests.store.test_restore import create_ticket, files_beside

HIDDEN_KEY_AT = "2026-01-01T00:00:00.000000Z"


def tamper(path: Path, *statements: str, params: tuple[object, ...] = ()) -> None:
    """Run `statements` on the backup (the first with `params`), then make its manifest
    agree with the new file, as someone who can write the backup folder can."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(statements[0], params)
        for statement in statements[1:]:
            conn.execute(statement)
    finally:
        conn.close()
    manifest = json.loads(manifest_path(path).read_text())
    manifest.update(sha256=sha256_of(path), size_bytes=path.stat().st_size)
    manifest_path(path).write_text(json.dumps(manifest))


def hide_admin_key(path: Path) -> str:
    """The attack as found: an admin key in `api_keys` with no event behind it. Returns it."""
    key_id, key = new_key()
    tamper(
        path,
        "INSERT INTO api_keys (id, user, role, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        params=(key_id, "mallory", Role.ADMIN.value, hash_key(key), HIDDEN_KEY_AT),
    )
    return key


# The trigger as found: revoking the hidden key puts it straight back.
UNREVOKE = (
    "CREATE TRIGGER keep_mallory AFTER UPDATE OF revoked_at ON api_keys"
    " WHEN NEW.user = 'mallory' BEGIN UPDATE api_keys SET revoked_at = NULL"
    " WHERE id = NEW.id; END"
)


class Live:
    """A live database with an admin key and a ticket, and a verified backup of it."""

    def __init__(self, root: Path) -> None:
        self.db = root / "live" / "torrentino.db"
        migrations.migrate(self.db)
        _, self.admin_key = create_key(self.db, "alice", Role.ADMIN)
        create_ticket(self.db)
        self.backups = self.db.parent / "backups"  # where the command lines look
        created = backup.create_backup(self.db, actor="admin-cli", backup_dir=self.backups)
        self.backup = self.backups / created.name

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`python -m chalicelib.cli ARGS` (what the Makefile's targets run) on this database."""
        command = [sys.executable, "-m", "chalicelib.cli", *args]
        return subprocess.run(
            command,
            cwd=PROJECT_DIR,
            env={**os.environ, "TORRENTINO_DB_PATH": str(self.db)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def who(self, key: str) -> Identity:
        with db.connect(self.db) as conn:
            return resolve_identity(conn, {"x-api-key": key}, "127.0.0.1")


@pytest.fixture
def live(tmp_path: Path) -> Live:
    return Live(tmp_path)


def test_the_hidden_unrevocable_admin_key_is_refused_by_verify_check_and_restore(
    live: Live,
) -> None:
    hidden = hide_admin_key(live.backup)
    tamper(live.backup, UNREVOKE)
    before = files_beside(live.db)

    verified = live.cli("backup", "verify", live.backup.name)
    checked = live.cli("check", str(live.backup))
    restored = live.cli("backup", "restore", live.backup.name)

    for result in (verified, checked, restored):
        assert result.returncode == 1, result.stdout + result.stderr
        assert "extra trigger keep_mallory on api_keys" in result.stdout + result.stderr
    assert "cannot be restored" in restored.stderr
    assert files_beside(live.db) == before  # nothing restored, nothing moved aside
    with pytest.raises(Unauthenticated):
        live.who(hidden)
    assert live.who(live.admin_key).name == "alice"


def test_a_key_without_its_created_event_is_refused_by_verify_check_and_restore(
    live: Live,
) -> None:
    hide_admin_key(live.backup)  # the schema is intact: the consistency check finds it
    [(key_id,)] = sqlite3.connect(live.backup).execute(
        "SELECT id FROM api_keys WHERE user = 'mallory'"
    )
    needle = f"key {key_id}: has no api_key_created event"

    assert any(needle in problem for problem in verify_backup(live.backup).problems)
    assert [str(p) for p in check_database(live.backup).problems] == [needle]
    with pytest.raises(BackupUnusable) as refused:
        restore_backup(live.backup, live.db, actor="admin-cli")
    assert any(needle in problem for problem in refused.value.problems)
    restored = live.cli("backup", "restore", live.backup.name)
    assert restored.returncode == 1 and needle in restored.stderr


PLANTED = (
    "CREATE TRIGGER planted AFTER INSERT ON audit_events"
    " BEGIN SELECT RAISE(ABORT, 'the planted trigger ran'); END"
)
# What torrentino at schema 7 made (as in test_restore's older backup), so the restore
# migrates it before writing its event.
AS_SCHEMA_7 = (
    "DROP TRIGGER audit_counts_insert",
    "DROP TRIGGER audit_counts_delete",
    "DROP TABLE audit_counts",
    "CREATE INDEX idx_tickets_state ON tickets(json_extract(state, '$.type'))",
    "CREATE INDEX idx_tickets_created_by ON tickets(created_by)",
    "CREATE INDEX idx_tickets_priority ON tickets(priority DESC)",
    "PRAGMA user_version = 7",
)


@pytest.mark.parametrize("version", ["current", "7"])
def test_a_trigger_that_a_restore_would_fire_never_runs(live: Live, version: str) -> None:
    if version == "7":
        tamper(live.backup, *AS_SCHEMA_7)
    tamper(live.backup, PLANTED)
    # It is armed: any write to the log, as a restore's backup_restored event, fires it.
    copy = live.backup.with_name("armed.db")
    copy.write_bytes(live.backup.read_bytes())
    with pytest.raises(sqlite3.IntegrityError, match="the planted trigger ran"):
        sqlite3.connect(copy).execute(
            "INSERT INTO audit_events (event_type, timestamp, actor, data)"
            " VALUES ('x', 't', 'a', '{}')"
        )
    backup_bytes, before = live.backup.read_bytes(), files_beside(live.db)

    found = verify_backup(live.backup)
    with pytest.raises(BackupUnusable) as refused:
        restore_backup(live.backup, live.db, actor="admin-cli")

    for problems in (found.problems, refused.value.problems):
        assert any("extra trigger planted on audit_events" in p for p in problems), problems
        assert not any("planted trigger ran" in p for p in problems)
    assert live.backup.read_bytes() == backup_bytes
    assert files_beside(live.db) == before


# A tickets table turned into a view that fails if it is ever read: the check must not.
TICKETS_AS_VIEW = (
    "DROP TABLE tickets",
    "CREATE VIEW tickets AS SELECT abs(-9223372036854775807 - 1) AS id",
)
CHANGED: dict[str, tuple[tuple[str, ...], list[str]]] = {
    "an extra index": (
        ("CREATE INDEX idx_keys_user ON api_keys(user)",),
        ["extra index idx_keys_user on api_keys"],
    ),
    "an extra view": (
        ("CREATE VIEW admins AS SELECT id FROM api_keys WHERE role = 'admin'",),
        ["extra view admins"],
    ),
    "an extra table": (("CREATE TABLE notes (text TEXT)",), ["extra table notes"]),
    "a table made a view": (TICKETS_AS_VIEW, ["missing table tickets", "extra view tickets"]),
    "a table without its check": (
        (
            "PRAGMA writable_schema = ON",
            "UPDATE sqlite_master SET sql = replace(sql, "
            "'CHECK (role IN (''user'', ''admin''))', '') WHERE name = 'api_keys'",
        ),
        ["table api_keys differs from what the migrations make"],
    ),
    "a trigger rewritten": (
        (
            "DROP TRIGGER audit_counts_insert",
            "CREATE TRIGGER audit_counts_insert AFTER INSERT ON audit_events BEGIN"
            " UPDATE api_keys SET revoked_at = NULL; END",
        ),
        ["trigger audit_counts_insert differs from what the migrations make"],
    ),
    "an index dropped": (("DROP INDEX idx_audit_time",), ["missing index idx_audit_time"]),
}


@pytest.mark.parametrize("name", list(CHANGED))
def test_a_schema_that_is_not_exactly_the_migrations_is_refused_everywhere(
    live: Live, name: str
) -> None:
    statements, needles = CHANGED[name]
    tamper(live.backup, *statements)

    checked = [str(problem) for problem in check_database(live.backup).problems]
    verified = verify_backup(live.backup).problems
    with pytest.raises(BackupUnusable) as refused:
        restore_backup(live.backup, live.db, actor="admin-cli")

    for problems in (checked, verified, refused.value.problems):
        for needle in needles:
            assert any(needle in problem for problem in problems), problems
        assert not any("overflow" in problem for problem in problems)  # no view was read


def test_the_statistics_tables_sqlite_makes_are_no_difference(live: Live) -> None:
    tamper(live.backup, "ANALYZE")
    assert verify_backup(live.backup).problems == []


@pytest.mark.parametrize("suffix", ["-journal", "-wal"])
def test_a_backup_with_a_journal_or_wal_beside_it_is_refused(live: Live, suffix: str) -> None:
    # SQLite would read (or roll back) that file into the backup: it is not what was checked.
    Path(f"{live.backup}{suffix}").write_bytes(b"\0" * 4096)
    problems = verify_backup(live.backup).problems
    assert any(f"{live.backup.name}{suffix} lies beside it" in p for p in problems), problems
    with pytest.raises(BackupUnusable):
        restore_backup(live.backup, live.db, actor="admin-cli")


def test_make_check_db_refuses_a_live_database_with_a_planted_trigger(live: Live) -> None:
    conn = sqlite3.connect(live.db)
    conn.execute(UNREVOKE)
    conn.close()
    checked = live.cli("check")  # make check-db: the configured database
    assert checked.returncode == 1
    assert "extra trigger keep_mallory on api_keys" in checked.stdout
