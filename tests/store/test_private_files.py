"""What torrentino creates is readable by its owner only, whatever the umask: the database
and its -wal, -shm and -journal files, the in-use lock, backups, their manifests and the
backup folder's lock (0600), and the folders it makes (0700). A file that exists keeps
the mode its owner gave it (issue 19)."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.backups import backup
from chalicelib.backups.files import LOCK_NAME, manifest_path
from chalicelib.backups.restore import restore_backup
from chalicelib.service import startup
from chalicelib.service.unit_of_work import open_storage
from chalicelib.storage import migrations
from chalicelib.storage.lock import lock_path
from chalicelib.tickets.model import CreateTicketRequest
from tests.helpers import example_ticket


@pytest.fixture(autouse=True)
def everyday_umask() -> Iterator[None]:
    """The umask most systems give (022): files 0644 and folders 0755 unless we say."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def create_ticket(path: Path) -> None:
    with open_storage(path) as storage:
        storage.tickets.create(CreateTicketRequest.model_validate(example_ticket()), created_by="a")


@pytest.mark.usefixtures("journal_mode")
def test_a_new_database_its_journal_and_its_folders_are_the_owners_alone(tmp_path: Path) -> None:
    db_path = tmp_path / "new" / "data" / "torrentino.db"  # neither folder exists yet
    startup.ensure_started(db_path)
    try:
        create_ticket(db_path)
        assert mode(db_path) == 0o600
        assert mode(lock_path(db_path)) == 0o600
        assert mode(db_path.parent) == mode(db_path.parent.parent) == 0o700
        # While a write is under way, whichever journal the mode keeps is there too.
        writer = sqlite3.connect(db_path, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("INSERT INTO ticket_counts (state, tickets) VALUES ('x', 0)")
            journals = [
                Path(f"{db_path}{suffix}")
                for suffix in ("-wal", "-shm", "-journal")
                if Path(f"{db_path}{suffix}").exists()
            ]
            assert journals
            assert {path.name: mode(path) for path in journals} == dict.fromkeys(
                (path.name for path in journals), 0o600
            )
        finally:
            writer.execute("ROLLBACK")
            writer.close()
    finally:
        startup.stop(db_path)


def test_an_existing_database_and_folder_keep_their_modes(tmp_path: Path) -> None:
    db_path = tmp_path / "shared" / "torrentino.db"
    db_path.parent.mkdir(mode=0o750)
    db_path.touch(mode=0o640)
    migrations.migrate(db_path)
    assert mode(db_path) == 0o640
    assert mode(db_path.parent) == 0o750


@pytest.mark.usefixtures("journal_mode")
def test_backups_their_manifests_folder_and_lock_are_the_owners_alone(tmp_path: Path) -> None:
    db_path = tmp_path / "torrentino.db"
    migrations.migrate(db_path)
    db_path.chmod(0o644)  # even from a database others may read
    create_ticket(db_path)
    backups = tmp_path / "off-site" / "backups"
    created = backup.create_backup(db_path, actor="root", backup_dir=backups)
    taken = backups / created.name
    assert mode(taken) == 0o600
    assert mode(manifest_path(taken)) == 0o600
    assert mode(backups / LOCK_NAME) == 0o600
    assert mode(backups) == mode(backups.parent) == 0o700
    assert {mode(path) for path in backups.iterdir()} == {0o600}


def test_a_database_restored_where_there_was_none_is_the_owners_alone(tmp_path: Path) -> None:
    source = tmp_path / "old" / "torrentino.db"
    migrations.migrate(source)
    create_ticket(source)
    created = backup.create_backup(source, actor="root", backup_dir=tmp_path / "backups")
    (tmp_path / "backups" / created.name).chmod(0o644)  # copied in by hand, say
    db_path = tmp_path / "new" / "torrentino.db"
    restore_backup(tmp_path / "backups" / created.name, db_path, actor="admin-cli")
    assert mode(db_path) == 0o600
    assert mode(db_path.parent) == 0o700
    assert {mode(path) for path in db_path.parent.iterdir()} == {0o600}
