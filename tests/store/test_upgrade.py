"""Upgrading an older schema on real files: a verified backup first, all steps or none, a
refusal that changes nothing, and backups taken before upgrades kept until a later one
succeeds. (tests/reliability/test_upgrade.py upgrades databases made by older commits.)"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from chalicelib import cli
from chalicelib.backups import backup, upgrade
from chalicelib.backups.check import check_database
from chalicelib.backups.files import (
    backup_name,
    list_backups,
    manifest_path,
    read_manifest,
    sha256_of,
)
from chalicelib.backups.kinds import BackupKind
from chalicelib.errors import UpgradeFailed
from chalicelib.service import startup as service
from chalicelib.service.unit_of_work import open_storage
from chalicelib.storage import migrations
from chalicelib.tickets.model import CreateTicketRequest
from chalicelib.timestamps import utc_now
from tests.helpers import example_ticket

CURRENT = len(migrations.MIGRATIONS)


def at_schema(path: Path, version: int) -> Path:
    """A database file brought by the shipped steps to `version`, and no further."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = wal")
        for number, step in enumerate(migrations.MIGRATIONS[:version], start=1):
            step(conn)
            conn.execute(f"PRAGMA user_version = {number}")
    finally:
        conn.close()
    return path


def with_tickets(path: Path, count: int = 3) -> list[str]:
    with open_storage(path) as storage:
        return [
            storage.tickets.create(
                CreateTicketRequest.model_validate(example_ticket(priority=n)), created_by="bob"
            ).id
            for n in range(count)
        ]


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        return version
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def forget_starts(tmp_path: Path) -> Iterator[None]:
    yield
    service.stop(tmp_path / "torrentino.db")


def test_an_older_schema_is_backed_up_as_it_was_then_upgraded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = at_schema(tmp_path / "torrentino.db", CURRENT - 1)
    ids = with_tickets(db)
    backups = tmp_path / "backups"

    assert upgrade.upgrade(db, create=False) == CURRENT

    [kept] = list_backups(backups, db.stem)
    assert kept.kind is BackupKind.BEFORE_UPGRADE and kept.verified
    assert kept.name.endswith(f"-before-upgrade-{CURRENT - 1}-to-{CURRENT}.db")
    manifest = read_manifest(backups / kept.name)
    assert manifest is not None and manifest.schema_version == CURRENT - 1
    assert user_version(backups / kept.name) == CURRENT - 1  # the file as it was
    assert user_version(db) == CURRENT
    assert check_database(db).tickets == len(ids)
    said = capsys.readouterr().err
    assert f"backed it up as {backups / kept.name} (verified" in said
    step = migrations.step_name(migrations.MIGRATIONS[-1])
    assert f"schema step {CURRENT} ({step}) ran in" in said
    assert f"upgraded {db} from schema {CURRENT - 1} to {CURRENT} (steps {CURRENT} to" in said


@pytest.mark.parametrize("version", [None, 0, CURRENT], ids=["no file", "empty", "current"])
def test_nothing_to_upgrade_takes_no_backup(tmp_path: Path, version: int | None) -> None:
    db = tmp_path / "torrentino.db"
    if version is not None:
        at_schema(db, version)
    assert upgrade.upgrade(db, create=True) == CURRENT
    assert not (tmp_path / "backups").exists()


def test_a_database_whose_backup_is_refused_is_not_upgraded_and_refuses_to_start(
    tmp_path: Path,
) -> None:
    # Steps 7 on are pending; someone made a table of step 8's name: the backup's check
    # refuses a schema that is not exactly the migrations' (and were it let through, the
    # rehearsal of the upgrade on it would fail).
    db = at_schema(tmp_path / "torrentino.db", 6)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE audit_counts (note TEXT)")
    conn.commit()
    conn.close()
    before = sha256_of(db)

    with pytest.raises(UpgradeFailed) as refused:
        service.ensure_started(db)

    message = refused.value.message
    assert "needs an upgrade from schema 6 to" in message
    assert "extra table audit_counts" in message
    assert "The database was not touched" in message
    assert sha256_of(db) == before and user_version(db) == 6
    assert list_backups(tmp_path / "backups", db.stem) == []  # the failed copy is not kept
    # Within the retry time the same refusal comes back without another try.
    with pytest.raises(UpgradeFailed) as again:
        service.ensure_started(db)
    assert again.value is refused.value


def test_all_pending_steps_or_none_a_failure_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    db = at_schema(tmp_path / "torrentino.db", 6)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE audit_counts (note TEXT)")
    conn.commit()
    conn.close()
    before = sha256_of(db)
    with pytest.raises(sqlite3.OperationalError, match="audit_counts already exists"):
        migrations.migrate(db, create=False)
    # Step 7 ran and made ticket_counts inside the same transaction: rolled back with it.
    assert sha256_of(db) == before and user_version(db) == 6
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "ticket_counts" not in tables


def test_no_backup_no_upgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = at_schema(tmp_path / "torrentino.db", CURRENT - 1)
    with_tickets(db)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("TORRENTINO_BACKUP_DIR", str(blocker / "backups"))
    before = sha256_of(db)

    with pytest.raises(UpgradeFailed) as refused:
        upgrade.upgrade(db, create=False)

    assert "the backup taken before it failed" in refused.value.message
    assert "Not a directory" in refused.value.message
    assert "TORRENTINO_BACKUP_DIR" in refused.value.message
    assert sha256_of(db) == before and user_version(db) == CURRENT - 1


def test_backups_before_upgrades_stay_until_a_later_upgrade_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = at_schema(tmp_path / "torrentino.db", CURRENT - 1)
    with_tickets(db)
    backups = tmp_path / "backups"
    upgrade.upgrade(db, create=False)
    [first] = list_backups(backups, db.stem)
    # Make it one taken a month ago, before an earlier upgrade (from schema 5).
    month_ago = utc_now() - timedelta(days=30)
    old = backups / backup_name(db.stem, month_ago, BackupKind.BEFORE_UPGRADE, upgrade=(5, 8))
    manifest = read_manifest(backups / first.name)
    assert manifest is not None
    os.rename(backups / first.name, old)
    manifest_path(backups / first.name).unlink()
    renamed = manifest.model_copy(update={"name": old.name, "taken_at": month_ago})
    manifest_path(old).write_text(renamed.model_dump_json())

    # Daily and weekly retention keeps two scheduled backups, and leaves the old one alone.
    monkeypatch.setenv("TORRENTINO_BACKUP_KEEP_DAILY", "1")
    monkeypatch.setenv("TORRENTINO_BACKUP_KEEP_WEEKLY", "0")
    for _ in range(2):
        backup.create_backup(db, actor="root", backup_dir=backups)
    kinds = {info.name: info.kind for info in list_backups(backups, db.stem)}
    assert old.name in kinds
    assert sorted(kinds.values()) == [BackupKind.BEFORE_UPGRADE, BackupKind.SCHEDULED]

    # The next upgrade that succeeds removes it, and keeps its own: the database is put
    # back one schema, as a newer torrentino will find it one day.
    service.stop(db)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    at_schema(db, CURRENT - 1)
    upgrade.upgrade(db, create=False)
    upgrades = [i for i in list_backups(backups, db.stem) if i.kind is BackupKind.BEFORE_UPGRADE]
    assert len(upgrades) == 1 and upgrades[0].name != old.name
    assert not old.exists() and not manifest_path(old).exists()
    conn = sqlite3.connect(db)
    [(data,)] = conn.execute(
        "SELECT data FROM audit_events WHERE event_type = 'backup_created'"
        " AND json_extract(data, '$.kind') = 'before upgrade' ORDER BY id DESC LIMIT 1"
    ).fetchall()
    conn.close()
    assert json.loads(data)["removed"] == [old.name]


def test_the_keys_command_upgrades_an_older_database_only_after_its_backup(
    tmp_path: Path,
) -> None:
    db = at_schema(tmp_path / "torrentino.db", CURRENT - 1)
    with_tickets(db)
    # `make keys` before the upgraded server was started
    assert cli.main(["--db", str(db), "keys", "create", "root", "--role", "admin"]) == 0
    [kept] = list_backups(tmp_path / "backups", db.stem)
    assert kept.kind is BackupKind.BEFORE_UPGRADE
    assert user_version(tmp_path / "backups" / kept.name) == CURRENT - 1
    assert user_version(db) == CURRENT
