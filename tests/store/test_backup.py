"""Taking backups on real files: verified before they count, published whole, retention
after success only, and every outcome in the audit log."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from chalicelib.backups import backup
from chalicelib.backups.check import check_database
from chalicelib.backups.files import (
    backup_name,
    list_backups,
    manifest_path,
    read_manifest,
    sha256_of,
)
from chalicelib.backups.snapshot import take_snapshot
from chalicelib.errors import BackupFailed, BackupInProgress
from chalicelib.service.unit_of_work import open_storage
from chalicelib.storage import migrations
from chalicelib.tickets.model import CreateTicketRequest, Ticket
from chalicelib.timestamps import utc_now
from harness.server_process import PROJECT_DIR
from tests.helpers import example_ticket


def fill(path: Path, count: int = 5) -> list[str]:
    """`count` tickets, every other one cancelled; their ids."""
    ids = []
    with open_storage(path) as storage:
        for n in range(count):
            request = CreateTicketRequest.model_validate(example_ticket(priority=n))
            ticket = storage.tickets.create(request, created_by="alice")
            if n % 2:
                storage.tickets.cancel(ticket.id, cancelled_by="alice", reason="changed my mind")
            ids.append(ticket.id)
    return ids


def read_tickets(path: Path, ids: list[str]) -> list[Ticket]:
    with open_storage(path) as storage:
        return [storage.tickets.get(ticket_id) for ticket_id in ids]


def events(path: Path, event_type: str) -> list[tuple[str, dict[str, object]]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT actor, data FROM audit_events WHERE event_type = ? ORDER BY id", (event_type,)
        ).fetchall()
    finally:
        conn.close()
    return [(actor, json.loads(data)) for actor, data in rows]


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    return tmp_path / "backups"


def verified_copy(backups: Path, source: str, at: datetime) -> Path:
    """A copy of backup `source` named as one taken `at`, with its manifest: verified."""
    manifest = read_manifest(backups / source)
    assert manifest is not None
    copy = backups / backup_name(source.rsplit("-", 1)[0], at)
    shutil.copyfile(backups / source, copy)
    renamed = manifest.model_copy(update={"name": copy.name, "taken_at": at})
    manifest_path(copy).write_text(renamed.model_dump_json())
    return copy


@pytest.mark.usefixtures("journal_mode")
def test_a_backup_is_a_verified_snapshot_with_a_manifest(db_path: Path, backups: Path) -> None:
    ids = fill(db_path)
    created = backup.create_backup(db_path, actor="root", backup_dir=backups)

    path = backups / created.name
    assert created.verified and created.tickets == 5 and created.removed == []
    report = check_database(path)
    assert report.ok and report.tickets == 5
    assert read_tickets(path, ids) == read_tickets(db_path, ids)
    manifest = read_manifest(path)
    assert manifest is not None
    assert manifest.sha256 == sha256_of(path)
    assert manifest.size_bytes == path.stat().st_size == created.size_bytes
    assert manifest.schema_version == len(migrations.MIGRATIONS)
    # One standalone file: no journal or WAL beside it, and nothing else left behind.
    assert path.read_bytes()[18:20] == b"\x01\x01"  # rollback journal, not WAL
    assert sorted(os.listdir(backups)) == sorted(
        [created.name, manifest_path(path).name, ".torrentino-backup.lock"]
    )
    [(actor, data)] = events(db_path, "backup_created")
    assert actor == "root"
    assert data == {
        "file": created.name,
        "size_bytes": created.size_bytes,
        "tickets": 5,
        "duration_seconds": created.duration_seconds,
        "removed": [],
    }


def test_a_backup_is_as_private_as_the_database(db_path: Path, backups: Path) -> None:
    fill(db_path)
    db_path.chmod(0o600)
    created = backup.create_backup(db_path, actor="root", backup_dir=backups)
    assert (backups / created.name).stat().st_mode & 0o777 == 0o600


@pytest.mark.usefixtures("journal_mode")
def test_the_live_database_is_only_read(db_path: Path, backups: Path) -> None:
    fill(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = db_path.read_bytes()
    assert take_snapshot(db_path, backups.parent / "snapshot.db") is None
    assert db_path.read_bytes() == before
    assert check_database(backups.parent / "snapshot.db").tickets == 5


def test_list_reads_manifests_and_flags_what_it_cannot_vouch_for(
    db_path: Path, backups: Path
) -> None:
    fill(db_path)
    first = backup.create_backup(db_path, actor="root", backup_dir=backups)
    # Copied in by hand, without a manifest, and one whose size changed since.
    old = backups / backup_name(db_path.stem, utc_now() - timedelta(days=1))
    shutil.copyfile(backups / first.name, old)
    with (backups / first.name).open("ab") as file:
        file.write(b"\0" * 512)
    (backups / "notes.txt").write_text("not a backup")

    listed = list_backups(backups, db_path.stem)

    assert [info.name for info in listed] == [first.name, old.name]
    assert [info.verified for info in listed] == [False, False]
    assert "size changed" in (listed[0].problem or "")
    assert "no manifest" in (listed[1].problem or "")
    assert listed[1].tickets is None


@pytest.fixture
def keep_two_days(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retention keeps the newest backup of each of the last two days, and no weeklies."""
    monkeypatch.setenv("TORRENTINO_BACKUP_KEEP_DAILY", "2")
    monkeypatch.setenv("TORRENTINO_BACKUP_KEEP_WEEKLY", "0")


@pytest.mark.usefixtures("keep_two_days")
def test_retention_runs_after_a_verified_backup_and_deletes_only_backups(
    db_path: Path, backups: Path
) -> None:
    fill(db_path)
    seed = backup.create_backup(db_path, actor="root", backup_dir=backups)
    now = utc_now()
    old = [verified_copy(backups, seed.name, now - timedelta(days=d)) for d in (1, 2, 3)]
    strangers = [backups / "notes.txt", backups / backup_name("other", now - timedelta(days=9))]
    for path in strangers:
        path.write_text("keep me")

    created = backup.create_backup(db_path, actor="root", backup_dir=backups)

    # Two days: today's newest (this one) and yesterday's; the rest goes, oldest first.
    assert created.removed == sorted([old[2].name, old[1].name, seed.name])
    names = {info.name for info in list_backups(backups, db_path.stem)}
    assert names == {created.name, old[0].name}
    assert all(path.exists() for path in strangers)
    assert events(db_path, "backup_created")[-1][1]["removed"] == created.removed


@pytest.mark.usefixtures("keep_two_days")
def test_retention_counts_and_deletes_only_verified_backups(db_path: Path, backups: Path) -> None:
    fill(db_path)
    seed = backup.create_backup(db_path, actor="root", backup_dir=backups)
    yesterday = (utc_now() - timedelta(days=1)).replace(hour=1)
    kept_yesterday = verified_copy(backups, seed.name, yesterday)
    # Copied in by hand, without manifests: one later the same day, one a month old.
    by_hand = [
        backups / backup_name(db_path.stem, yesterday + timedelta(hours=1)),
        backups / backup_name(db_path.stem, yesterday - timedelta(days=30)),
    ]
    for path in by_hand:
        shutil.copyfile(backups / seed.name, path)

    created = backup.create_backup(db_path, actor="root", backup_dir=backups)

    # Today's newest and yesterday's newest verified one; the hand-copied files count
    # for nothing and stay.
    assert created.removed == [seed.name]
    listed = {info.name: info.verified for info in list_backups(backups, db_path.stem)}
    assert listed == {
        created.name: True,
        kept_yesterday.name: True,
        by_hand[0].name: False,
        by_hand[1].name: False,
    }


def test_a_snapshot_that_fails_the_check_is_not_published_and_retention_waits(
    db_path: Path, backups: Path
) -> None:
    ids = fill(db_path)
    backup.create_backup(db_path, actor="root", backup_dir=backups)
    before = sorted(os.listdir(backups))
    conn = sqlite3.connect(db_path)  # a change behind the audit log's back
    conn.execute("UPDATE tickets SET priority = 999 WHERE id = ?", (ids[0],))
    conn.commit()
    conn.close()

    with pytest.raises(BackupFailed) as failed:
        backup.create_backup(db_path, actor="root", backup_dir=backups)

    assert "failed verification" in failed.value.message
    assert "stored priority is 999" in failed.value.message
    assert sorted(os.listdir(backups)) == before  # nothing new, nothing removed
    [(actor, data)] = events(db_path, "backup_failed")
    assert actor == "root"
    assert data["reason"] == failed.value.message


def test_a_backup_directory_that_cannot_be_made_is_a_recorded_failure(
    db_path: Path, tmp_path: Path
) -> None:
    fill(db_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(BackupFailed) as failed:
        backup.create_backup(db_path, actor="system", backup_dir=blocker / "backups")
    assert "Not a directory" in failed.value.message
    assert str(blocker / "backups") in failed.value.message
    assert events(db_path, "backup_failed") == [("system", {"reason": failed.value.message})]


def test_no_database_no_backup(tmp_path: Path, backups: Path) -> None:
    with pytest.raises(BackupFailed) as failed:
        backup.create_backup(tmp_path / "missing.db", actor="root", backup_dir=backups)
    assert "there is no database" in failed.value.message
    assert "not in the audit log" in failed.value.message
    assert list_backups(backups, "missing") == []


def test_leftovers_of_an_interrupted_backup_are_cleared_by_the_next(
    db_path: Path, backups: Path
) -> None:
    fill(db_path)
    backups.mkdir()
    name = backup_name(db_path.stem, utc_now() - timedelta(hours=1))
    half_written = backups / f".{name}.tmp"
    half_written.write_bytes(b"SQLite format 3\0" + b"\0" * 100)
    orphan_manifest = manifest_path(backups / name)
    orphan_manifest.write_text("{}")
    assert list_backups(backups, db_path.stem) == []  # neither is ever listed

    backup.create_backup(db_path, actor="root", backup_dir=backups)

    assert not half_written.exists() and not orphan_manifest.exists()


LOCK_HOLDER = """
import fcntl, sys
lock = open(sys.argv[1], "a")
fcntl.flock(lock, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
"""


@contextmanager
def another_backup_running(backups: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holds the backup directory's lock until the block ends."""
    backups.mkdir(exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(backups / ".torrentino-backup.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        yield holder
    finally:
        holder.communicate("done\n", timeout=30)


def test_a_backup_waits_the_busy_timeout_for_another_then_refuses(
    db_path: Path, backups: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(db_path)
    monkeypatch.setenv("TORRENTINO_BUSY_TIMEOUT_MS", "200")
    with another_backup_running(backups), pytest.raises(BackupInProgress) as busy:
        backup.create_backup(db_path, actor="root", backup_dir=backups)
    assert busy.value.retry_after
    assert events(db_path, "backup_failed") == []  # busy is not a failure
    assert backup.create_backup(db_path, actor="root", backup_dir=backups).verified


def test_the_command_line_waits_for_another_backup_to_finish(db_path: Path, backups: Path) -> None:
    fill(db_path)
    with another_backup_running(backups):
        command = ["--db", str(db_path), "--backup-dir", str(backups), "create"]
        waiting = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.backup", *command],
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert waiting.stderr is not None
        assert "waiting for it to finish" in waiting.stderr.readline()
        assert waiting.poll() is None
    out, _ = waiting.communicate(timeout=120)
    assert waiting.returncode == 0
    assert "created" in out
    assert len(list_backups(backups, db_path.stem)) == 1


@pytest.mark.parametrize(("hours_ago", "due"), [(None, True), (23.0, True), (20.0, False)], ids=str)
def test_a_scheduled_backup_is_due_a_day_after_the_newest(
    db_path: Path, backups: Path, hours_ago: float | None, due: bool
) -> None:
    fill(db_path)
    if hours_ago is not None:
        seed = backup.create_backup(db_path, actor="root", backup_dir=backups)
        (backups / seed.name).rename(
            backups / backup_name(db_path.stem, utc_now() - timedelta(hours=hours_ago))
        )
    created = backup.backup_if_due(db_path, backup_dir=backups)
    assert (created is not None) is due
    if created is not None:
        assert events(db_path, "backup_created")[-1][0] == "system"


def test_scheduled_backups_can_be_switched_off(
    db_path: Path, backups: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORRENTINO_BACKUP_EVERY_HOURS", "0")
    assert backup.seconds_until_due(db_path, backups) is None
    assert backup.backup_if_due(db_path, backup_dir=backups) is None
    assert not backups.exists()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chalicelib.backup", *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_the_command_line_creates_lists_and_verifies(db_path: Path, backups: Path) -> None:
    fill(db_path)
    env = {"TORRENTINO_DB_PATH": str(db_path), "TORRENTINO_BACKUP_DIR": str(backups)}
    created = run_cli("create", env=env)
    assert created.returncode == 0, created.stderr
    [info] = list_backups(backups, db_path.stem)
    assert f"created {backups / info.name} (5 tickets" in created.stdout
    listed = run_cli("list", env=env)
    assert listed.returncode == 0 and info.name in listed.stdout and "verified" in listed.stdout
    verified = run_cli("verify", env=env)
    assert verified.returncode == 0
    assert (
        f"{backups / info.name}: ok (5 tickets, schema {len(migrations.MIGRATIONS)}"
        in verified.stdout
    )
    not_due = run_cli("create", "--if-due", env=env)
    assert not_due.returncode == 0 and "no backup due" in not_due.stdout
    refused = run_cli("verify", str(db_path.parent / "nothing.db"), env=env)
    assert refused.returncode == 1 and "REFUSED" in refused.stdout


def test_the_command_line_keeps_backups_beside_the_database_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given, configured = tmp_path / "given" / "torrentino.db", tmp_path / "env" / "torrentino.db"
    for path in (given, configured):
        path.parent.mkdir()
        migrations.migrate(path)
    ids = fill(given)
    monkeypatch.delenv("TORRENTINO_BACKUP_DIR", raising=False)
    env = {"TORRENTINO_DB_PATH": str(configured)}
    db = ("--db", str(given))

    created = run_cli(*db, "create", env=env)
    assert created.returncode == 0, created.stderr
    [info] = list_backups(given.parent / "backups", given.stem)
    assert not (configured.parent / "backups").exists()
    listed = run_cli(*db, "list", env=env)
    assert info.name in listed.stdout and "verified" in listed.stdout
    verified = run_cli(*db, "verify", env=env)
    assert (
        verified.returncode == 0
        and f"{given.parent / 'backups' / info.name}: ok" in verified.stdout
    )
    fill(given)  # after the backup: gone once it is restored
    restored = run_cli(*db, "restore", info.name, env=env)
    assert restored.returncode == 0, restored.stderr
    assert check_database(given).tickets == len(ids)
    assert check_database(configured).tickets == 0
