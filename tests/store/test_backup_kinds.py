"""Backup kinds on real files: what people take stays out of the daily and weekly
retention, kept by a rule of its own; `make backups` shows each kind; a restore backs up
the database it replaces, restorable to undo it."""

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
from chalicelib.backups.files import list_backups
from chalicelib.backups.kinds import BackupKind
from chalicelib.service.unit_of_work import open_storage
from chalicelib.tickets.model import CreateTicketRequest
from harness.server_process import PROJECT_DIR
from tests.helpers import example_ticket


def fill(path: Path, count: int = 2) -> None:
    with open_storage(path) as storage:
        for n in range(count):
            request = CreateTicketRequest.model_validate(example_ticket(priority=n))
            storage.tickets.create(request, created_by="alice")


def kinds(backups: Path, stem: str) -> list[BackupKind]:
    """The kinds of the backups there, newest first."""
    return [info.kind for info in list_backups(backups, stem)]


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    return tmp_path / "backups"


@pytest.fixture
def one_day_and_two_manual(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retention: one scheduled backup a day, no weeklies, and the newest two manual ones."""
    monkeypatch.setenv("TORRENTINO_BACKUP_KEEP_DAILY", "1")
    monkeypatch.setenv("TORRENTINO_BACKUP_KEEP_WEEKLY", "0")
    monkeypatch.setenv("TORRENTINO_BACKUP_KEEP_MANUAL", "2")


@pytest.mark.usefixtures("one_day_and_two_manual")
def test_a_manual_backup_no_longer_replaces_the_days_scheduled_one(
    db_path: Path, backups: Path
) -> None:
    fill(db_path)
    scheduled = backup.create_backup(db_path, actor="system", backup_dir=backups)
    manual = backup.create_backup(db_path, actor="root", kind=BackupKind.MANUAL, backup_dir=backups)
    assert manual.name.endswith("Z-manual.db") and manual.removed == []
    assert kinds(backups, db_path.stem) == [BackupKind.MANUAL, BackupKind.SCHEDULED]
    # The next scheduled one of the day replaces the first scheduled one, not the manual.
    later = backup.create_backup(db_path, actor="system", backup_dir=backups)
    assert later.removed == [scheduled.name]
    assert {info.name for info in list_backups(backups, db_path.stem)} == {
        later.name,
        manual.name,
    }


@pytest.mark.usefixtures("one_day_and_two_manual")
def test_manual_backups_keep_the_newest_few_of_their_own(db_path: Path, backups: Path) -> None:
    fill(db_path)
    taken = [
        backup.create_backup(db_path, actor="root", kind=BackupKind.MANUAL, backup_dir=backups)
        for _ in range(3)
    ]
    assert [created.removed for created in taken] == [[], [], [taken[0].name]]
    assert [info.name for info in list_backups(backups, db_path.stem)] == [
        taken[2].name,
        taken[1].name,
    ]
    conn = sqlite3.connect(db_path)
    recorded = [
        json.loads(data)
        for (data,) in conn.execute(
            "SELECT data FROM audit_events WHERE event_type = 'backup_created' ORDER BY id"
        )
    ]
    conn.close()
    assert [data["kind"] for data in recorded] == ["manual"] * 3
    assert recorded[-1]["removed"] == [taken[0].name]


def run_cli(db: Path, backups: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "chalicelib.backup",
            "--db",
            str(db),
            "--backup-dir",
            str(backups),
            *args,
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "TORRENTINO_JOURNAL_MODE": "wal"},
    )


def test_make_backups_lists_each_kind(db_path: Path, backups: Path) -> None:
    fill(db_path)
    backup.create_backup(db_path, actor="system", backup_dir=backups)
    created = run_cli(db_path, backups, "create")
    assert created.returncode == 0, created.stderr
    listed = run_cli(db_path, backups, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2
    assert "-manual.db" in lines[0] and "  manual  " in lines[0]
    assert "  scheduled  " in lines[1]


def test_a_restore_backs_up_the_database_it_replaces_which_undoes_it(
    db_path: Path, backups: Path
) -> None:
    fill(db_path, 2)
    taken = backup.create_backup(db_path, actor="root", backup_dir=backups)
    fill(db_path, 3)  # after the backup: five tickets live, two in the backup

    restored = run_cli(db_path, backups, "restore", taken.name)

    assert restored.returncode == 0, restored.stderr
    assert check_database(db_path).tickets == 2
    [before_restore] = [
        info
        for info in list_backups(backups, db_path.stem)
        if info.kind is BackupKind.BEFORE_RESTORE
    ]
    assert before_restore.verified and before_restore.tickets == 5
    assert f"backed up as {backups / before_restore.name} (verified)" in restored.stdout
    undone = run_cli(db_path, backups, "restore", before_restore.name)
    assert undone.returncode == 0, undone.stderr
    assert check_database(db_path).tickets == 5


def test_a_damaged_database_is_still_replaced_without_a_backup_of_it(
    db_path: Path, backups: Path
) -> None:
    fill(db_path, 2)
    taken = backup.create_backup(db_path, actor="root", backup_dir=backups)
    conn = sqlite3.connect(db_path)  # a change behind the audit log's back
    conn.execute("UPDATE tickets SET priority = 999")
    conn.commit()
    conn.close()

    restored = run_cli(db_path, backups, "restore", taken.name)

    assert restored.returncode == 0, restored.stderr
    assert "no backup of the database it replaced was taken" in restored.stdout
    assert "failed verification" in restored.stdout
    assert "the database it replaced is kept as" in restored.stdout
    assert check_database(db_path).ok
    assert kinds(backups, db_path.stem) == [BackupKind.SCHEDULED]
