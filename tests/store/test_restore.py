"""Restoring on real files: damaged or foreign backups are refused by verify and restore,
a database in use is never replaced, the current one is moved aside (with its journal or
WAL, even a crashed writer's), an older backup is migrated forward, and the restore is in
the audit log; in each journal mode where the mode matters."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chalicelib.backups import backup
from chalicelib.backups.check import check_database
from chalicelib.backups.files import manifest_path
from chalicelib.backups.restore import (
    DATABASE_FILES,
    restore_backup,
    verify_backup,
)
from chalicelib.errors import BackupUnusable, DatabaseInUse, StorageUnavailable, TicketNotFound
from chalicelib.service import startup
from chalicelib.service.unit_of_work import open_storage
from chalicelib.storage import migrations
from chalicelib.storage.lock import lock_path
from chalicelib.tickets.model import CreateTicketRequest, Ticket
from tests.helpers import example_ticket
from tests.store.test_journal_modes import HALF_WRITTEN


def create_ticket(path: Path, priority: int = 1) -> str:
    request = CreateTicketRequest.model_validate(example_ticket(priority=priority))
    with open_storage(path) as storage:
        return storage.tickets.create(request, created_by="alice").id


def has_ticket(path: Path, ticket_id: str) -> bool:
    with open_storage(path) as storage:
        try:
            return storage.tickets.get(ticket_id).id == ticket_id
        except TicketNotFound:
            return False


def tickets_in(path: Path, ticket_ids: list[str]) -> list[Ticket]:
    with open_storage(path) as storage:
        return [storage.tickets.get(ticket_id) for ticket_id in ticket_ids]


def names_beside(path: Path) -> set[str]:
    return {p.name for p in path.parent.iterdir()}


def files_beside(path: Path) -> dict[str, bytes]:
    """Every file in the database's directory (not below it), with its contents."""
    return {p.name: p.read_bytes() for p in sorted(path.parent.iterdir()) if p.is_file()}


def sql(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


class Setup:
    """A live database in `live/` with three tickets, and a verified backup of it."""

    def __init__(self, root: Path) -> None:
        self.db = root / "live" / "torrentino.db"
        migrations.migrate(self.db)
        self.in_backup = [create_ticket(self.db, n) for n in range(3)]
        self.backups = root / "backups"
        created = backup.create_backup(self.db, actor="root", backup_dir=self.backups)
        self.backup = self.backups / created.name
        self.after_backup = create_ticket(self.db, 9)

    def damaged_copy(self, damage: Callable[[Path], object], *, keep_manifest: bool) -> Path:
        copy = self.backups / "copies" / self.backup.name
        copy.parent.mkdir()
        shutil.copyfile(self.backup, copy)
        if keep_manifest:
            shutil.copyfile(manifest_path(self.backup), manifest_path(copy))
        damage(copy)
        return copy


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def test_restore_replaces_the_database_and_keeps_the_old_one_aside(
    journal_mode: str, setup: Setup
) -> None:
    restored = restore_backup(setup.backup, setup.db, actor="admin-cli")

    aside = restored.moved_aside[0]
    assert aside.name.startswith("torrentino.before-restore-")
    # Truncate mode leaves an empty journal after each write: it goes aside too.
    companions = ["-journal"] if journal_mode == "truncate" else []
    assert restored.moved_aside[1:] == [Path(f"{aside}{suffix}") for suffix in companions]
    moved = {path.name for path in restored.moved_aside}
    assert names_beside(setup.db) == {setup.db.name, lock_path(setup.db).name, *moved}
    assert all(has_ticket(setup.db, ticket_id) for ticket_id in setup.in_backup)
    assert not has_ticket(setup.db, setup.after_backup)
    report = check_database(setup.db)
    assert report.ok and report.tickets == 3
    assert has_ticket(aside, setup.after_backup)
    conn = sqlite3.connect(setup.db)
    try:
        # The file's own mode: WAL, or a rollback journal ("delete" to a plain connection).
        expected_mode = "wal" if journal_mode == "wal" else "delete"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == expected_mode
        actor, data = conn.execute(
            "SELECT actor, data FROM audit_events WHERE event_type = 'backup_restored'"
        ).fetchone()
    finally:
        conn.close()
    assert actor == "admin-cli"
    assert json.loads(data) == {
        "file": setup.backup.name,
        "sha256": json.loads(manifest_path(setup.backup).read_text())["sha256"],
        "tickets": 3,
        "from_schema_version": len(migrations.MIGRATIONS),
        "to_schema_version": len(migrations.MIGRATIONS),
        "previous_database": aside.name,
    }


WRITER_THEN_CRASH = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA wal_autocheckpoint = 0")
conn.execute("UPDATE tickets SET priority = 77 WHERE id = ?", (sys.argv[2],))
os._exit(0)  # no close: the change stays in the -wal file only
"""


def test_a_database_with_a_pending_wal_is_moved_aside_whole(setup: Setup) -> None:
    ticket = setup.in_backup[0]
    subprocess.run(
        [sys.executable, "-c", WRITER_THEN_CRASH, str(setup.db), ticket], check=True, timeout=30
    )
    assert Path(f"{setup.db}-wal").stat().st_size > 0

    moved = restore_backup(setup.backup, setup.db, actor="admin-cli").moved_aside

    aside = moved[0]  # and whichever of its -wal and -shm were there, under the same name
    assert all(path.name in (aside.name + "-wal", aside.name + "-shm") for path in moved[1:])
    conn = sqlite3.connect(aside)
    try:
        priority = conn.execute("SELECT priority FROM tickets WHERE id = ?", (ticket,))
        assert priority.fetchone()[0] == 77  # the WAL's change came along
    finally:
        conn.close()


@pytest.mark.parametrize("journal_mode", ["delete", "truncate"], indirect=True)
def test_a_database_with_a_hot_journal_is_replaced_with_nothing_lost_or_left_over(
    journal_mode: str, setup: Setup
) -> None:
    every_ticket = [*setup.in_backup, setup.after_backup]
    committed = tickets_in(setup.db, every_ticket)
    subprocess.run(
        [sys.executable, "-c", HALF_WRITTEN, str(setup.db), journal_mode], check=True, timeout=30
    )
    assert Path(f"{setup.db}-journal").stat().st_size > 0

    restored = restore_backup(setup.backup, setup.db, actor="admin-cli")

    # The new database, its lock, and the old one under its new name (with its journal,
    # if SQLite had not rolled it back and removed it): no stray journal of either.
    aside = restored.moved_aside[0]
    kept_aside = names_beside(setup.db) - {setup.db.name, lock_path(setup.db).name}
    assert kept_aside - {f"{aside.name}-journal"} == {aside.name}
    assert tickets_in(aside, every_ticket) == committed  # the crashed write undone, no more
    assert check_database(aside).ok
    assert tickets_in(setup.db, setup.in_backup) == committed[:3]
    assert check_database(setup.db).tickets == 3


@pytest.mark.usefixtures("journal_mode")
def test_restore_is_refused_while_torrentino_uses_the_database(setup: Setup) -> None:
    startup.ensure_started(setup.db)
    try:
        assert_refused_in_use(setup, "stop the server")
    finally:
        startup.stop(setup.db)
    restore_backup(setup.backup, setup.db, actor="admin-cli")


def assert_refused_in_use(setup: Setup, needle: str) -> None:
    before = files_beside(setup.db)
    with pytest.raises(DatabaseInUse) as refused:
        restore_backup(setup.backup, setup.db, actor="admin-cli")
    assert needle in refused.value.message
    assert files_beside(setup.db) == before


HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("SELECT count(*) FROM tickets").fetchone()  # open, idle, no transaction
print("open", flush=True)
sys.stdin.readline()
conn.close()
"""


def test_restore_is_refused_while_another_program_has_the_database_open(setup: Setup) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(setup.db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        assert_refused_in_use(setup, "another program")
    finally:
        holder.communicate("close\n", timeout=30)


def flip_page_headers(path: Path) -> None:
    """Invert the first bytes of the b-tree pages in the middle third of the file."""
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    pages = len(data) // page_size
    for page in range(max(1, pages // 3), max(2, 2 * pages // 3)):
        for offset in range(page * page_size, page * page_size + 8):
            data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate_to_half(path: Path) -> None:
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)


def someone_elses_database(path: Path) -> None:
    path.unlink()
    sql(path, "CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)", "PRAGMA user_version = 3")


def newer_schema(path: Path) -> None:
    sql(path, f"PRAGMA user_version = {len(migrations.MIGRATIONS) + 1}")


DAMAGE: dict[str, tuple[Callable[[Path], object], bool, str]] = {
    "flipped bytes": (flip_page_headers, True, "SHA-256 differs"),
    # Without a manifest SQLite finds them: reading the schema, or in the consistency check
    # (which one depends on where the schema's pages fall, and so on the schema's size).
    "flipped bytes, no manifest": (flip_page_headers, False, "malformed"),
    "truncated": (truncate_to_half, True, "SHA-256 differs"),
    "truncated, no manifest": (truncate_to_half, False, "malformed"),
    "someone else's SQLite file": (someone_elses_database, False, "not torrentino's"),
    "not SQLite at all": (lambda p: p.write_text("hello\n" * 1000), False, "not an SQLite"),
    "empty": (lambda p: p.write_bytes(b""), False, "not an SQLite"),
    "newer schema": (newer_schema, False, "newer than this torrentino's"),
}


@pytest.fixture(params=list(DAMAGE))
def damaged(request: pytest.FixtureRequest, setup: Setup) -> Iterator[tuple[Path, str]]:
    damage, keep_manifest, needle = DAMAGE[request.param]
    yield setup.damaged_copy(damage, keep_manifest=keep_manifest), needle


def test_a_damaged_or_foreign_backup_is_refused_by_verify(damaged: tuple[Path, str]) -> None:
    path, needle = damaged
    problems = verify_backup(path).problems
    assert any(needle in problem for problem in problems), problems


@pytest.mark.usefixtures("journal_mode")
def test_a_damaged_or_foreign_backup_is_refused_by_restore(
    setup: Setup, damaged: tuple[Path, str]
) -> None:
    path, needle = damaged
    before = files_beside(setup.db)
    with pytest.raises(BackupUnusable) as refused:
        restore_backup(path, setup.db, actor="admin-cli")
    assert any(needle in problem for problem in refused.value.problems), refused.value.problems
    assert files_beside(setup.db) == before  # not moved aside, nothing left behind


@pytest.mark.usefixtures("journal_mode")
def test_an_older_backup_is_verified_and_restored_through_migration(setup: Setup) -> None:
    # What torrentino at schema 7 wrote: no audit_counts table (migration 8) yet, the
    # three indexes migration 9 drops, as migration 1 made them, and no later table.
    old = setup.damaged_copy(
        lambda p: sql(
            p,
            "DROP TABLE destinations",
            "DROP TABLE notification_deliveries",
            "DROP TABLE notification_targets",
            "DROP TRIGGER audit_counts_insert",
            "DROP TRIGGER audit_counts_delete",
            "DROP TABLE audit_counts",
            "CREATE INDEX idx_tickets_state ON tickets(json_extract(state, '$.type'))",
            "CREATE INDEX idx_tickets_created_by ON tickets(created_by)",
            "CREATE INDEX idx_tickets_priority ON tickets(priority DESC)",
            "PRAGMA user_version = 7",
        ),
        keep_manifest=False,
    )
    found = verify_backup(old)
    assert found.problems == [] and found.schema_version == 7
    assert not list(old.parent.glob(".verify-*"))  # the migrated copy is gone

    restored = restore_backup(old, setup.db, actor="admin-cli")

    assert restored.from_schema_version == 7
    conn = sqlite3.connect(setup.db)
    try:
        assert migrations.schema_version(conn) == len(migrations.MIGRATIONS)
        counts = dict(conn.execute("SELECT event_type, events FROM audit_counts").fetchall())
    finally:
        conn.close()
    assert counts["ticket_created"] == 3 and counts["backup_restored"] == 1
    assert check_database(setup.db).ok
    assert not [name for name in names_beside(setup.db) if ".restoring" in name]


@pytest.mark.usefixtures("journal_mode")
def test_restore_onto_a_lost_database(setup: Setup) -> None:
    for suffix in DATABASE_FILES:
        Path(f"{setup.db}{suffix}").unlink(missing_ok=True)
    restored = restore_backup(setup.backup, setup.db, actor="admin-cli")
    assert restored.moved_aside == []
    assert names_beside(setup.db) == {setup.db.name, lock_path(setup.db).name}
    assert check_database(setup.db).tickets == 3


def test_the_restored_file_keeps_the_permissions_of_the_one_it_replaces(setup: Setup) -> None:
    os.chmod(setup.db, 0o600)
    restore_backup(setup.backup, setup.db, actor="admin-cli")
    assert setup.db.stat().st_mode & 0o777 == 0o600


def test_a_new_installation_holds_the_in_use_lock_from_its_first_start(
    setup: Setup, tmp_path: Path
) -> None:
    fresh = tmp_path / "new" / "torrentino.db"  # not even its directory exists yet
    startup.ensure_started(fresh)
    try:
        with pytest.raises(DatabaseInUse) as refused:
            restore_backup(setup.backup, fresh, actor="admin-cli")
        assert "stop the server" in refused.value.message
    finally:
        startup.stop(fresh)


RESTORE_IN_PROGRESS = """
import fcntl, sys
lock = open(sys.argv[1], "a")
fcntl.flock(lock, fcntl.LOCK_EX)
print("restoring", flush=True)
sys.stdin.readline()
"""


def test_a_server_starting_during_a_restore_waits_for_it(setup: Setup) -> None:
    restoring = subprocess.Popen(
        [sys.executable, "-c", RESTORE_IN_PROGRESS, str(lock_path(setup.db))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert restoring.stdout is not None and restoring.stdout.readline() == "restoring\n"
        before = files_beside(setup.db)
        with pytest.raises(StorageUnavailable) as busy:
            startup.ensure_started(setup.db)
        assert "being restored" in busy.value.message and busy.value.retry_after
        assert files_beside(setup.db) == before  # no migration, no service_started
    finally:
        restoring.communicate("done\n", timeout=30)
    startup.ensure_started(setup.db)
    startup.stop(setup.db)
