"""Restoring a backup so that it cannot make things worse, and checking that one would work.

`verify_backup` and `restore_backup` refuse the same files: one whose SHA-256 no longer
matches its manifest, one that is not SQLite, an SQLite file that is not torrentino's,
one whose schema is newer than this code or is not exactly what the migrations make for
its version (an extra trigger, view or index: `chalicelib.storage.schema`), one with a journal or
WAL beside it, and one that fails the consistency check (an older schema is migrated
forward on a copy first, then checked). Nothing from the file runs while it is examined:
its schema is read on a connection that runs nothing (`db.untrusted`), and a copy is
migrated, or written to at all, only once its schema is known to be ours. A restore
examines its own private copy, so the file cannot change between the check and the use.

A restore refuses to run while the database is in use (`chalicelib.storage.lock`), checked two ways:

* every process that serves the database (the local server, each warm Lambda
  container, a backup being taken) holds a shared `flock` on `<database>.lock` from
  start-up on; a restore needs it exclusively. This also covers a database file that is
  missing or damaged, which SQLite cannot lock;
* SQLite's own locks: the restore opens the live database in exclusive locking mode, so
  any other program holding it open (the `sqlite3` shell, an older server) is noticed.

Both are locks of the operating system: on one host they are reliable; on a network file
system they are only as good as its locking (NFSv4 and EFS hold them while a client keeps
its lease; a frozen Lambda container may lose its lease). Stop every server first there.

The restored database is prepared beside the live one (copied, examined, migrated,
checked, its keys squared with the live database's (`chalicelib.backups.restore_keys`), and its
`backup_restored` event written), the live database and its -journal, -wal and -shm are
renamed aside, never deleted, and the prepared file is renamed into place.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory

from chalicelib.audit.events import AuditEventType, record
from chalicelib.backups.check import check_database
from chalicelib.backups.files import fsync_path, read_manifest, sha256_of
from chalicelib.backups.restore_keys import KeyChanges, live_keys, square_keys
from chalicelib.errors import (
    BackupUnusable,
    TorrentinoError,
)
from chalicelib.storage import db, lock, migrations, private, schema
from chalicelib.timestamps import utc_now

SQLITE_HEADER = b"SQLite format 3\x00"
OUR_TABLES = frozenset({"tickets", "audit_events"})
# A database and the files SQLite keeps beside it, which move (and are cleaned up) with
# it: a rollback journal (a hot one undoes a crashed writer's half-written pages; truncate
# mode leaves an empty one after every write), or the WAL and its index.
DATABASE_FILES = ("", "-journal", "-wal", "-shm")


@dataclass
class Examination:
    """What checking a backup file found: restorable when `problems` is empty."""

    path: Path
    problems: list[str] = field(default_factory=list)
    schema_version: int = 0
    tickets: int = 0
    events: int = 0
    sha256: str = ""
    checksummed: bool = False


def _examine(backup: Path, file: Path) -> Examination:
    """Everything that can be known about `backup` without the consistency check, read
    from `file` (the backup itself, or a private copy of it) without running any of it."""
    found = Examination(backup)
    if not file.is_file():
        found.problems.append("it does not exist or is not a file")
        return found
    beside = [f"{backup.name}{s}" for s in DATABASE_FILES[1:] if Path(f"{backup}{s}").exists()]
    if beside:
        found.problems.append(
            f"{', '.join(beside)} lies beside it: a backup is one file, and SQLite would "
            "read that one into it"
        )
    found.sha256 = sha256_of(file)
    manifest = read_manifest(backup)
    if manifest is not None:
        found.checksummed = True
        if found.sha256 != manifest.sha256:
            found.problems.append(
                "its SHA-256 differs from the one recorded when it was taken: the file has "
                "changed or is damaged"
            )
    with file.open("rb") as opened:
        if opened.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            found.problems.append("it is not an SQLite database")
            return found
    try:
        with db.untrusted(file) as conn:
            found.schema_version = migrations.schema_version(conn)
            objects = schema.read(conn)
    except sqlite3.Error as error:
        found.problems.append(f"SQLite cannot read it: {error}")
        return found
    if not OUR_TABLES.issubset(o.name for o in objects):  # in some form: else not ours at all
        found.problems.append("it is an SQLite database, but not torrentino's")
    elif found.schema_version > len(migrations.MIGRATIONS):
        found.problems.append(
            f"its schema version {found.schema_version} is newer than this torrentino's "
            f"({len(migrations.MIGRATIONS)}): upgrade torrentino to restore it"
        )
    else:
        found.problems.extend(
            f"its schema is not what torrentino's migrations make for version "
            f"{found.schema_version}: {difference}"
            for difference in schema.differences(objects, found.schema_version)
        )
    return found


def _check(found: Examination, database: Path) -> None:
    report = check_database(database)
    found.tickets, found.events = report.tickets, report.events
    found.problems.extend(f"consistency check: {problem}" for problem in report.problems)


def verify_backup(backup: Path) -> Examination:
    """Check a backup file as thoroughly as a restore would, without restoring it."""
    found = _examine(backup, backup)
    if found.problems or found.schema_version == len(migrations.MIGRATIONS):
        if not found.problems:
            _check(found, backup)
        return found
    try:  # the migrated copy goes beside the backup, or to the temporary directory
        scratch_dir = TemporaryDirectory(prefix=".verify-", dir=backup.parent)
    except OSError:
        scratch_dir = TemporaryDirectory(prefix="torrentino-verify-")
    with scratch_dir as scratch:
        copy = Path(scratch) / backup.name
        try:
            private.create_file(copy)  # copyfile keeps the mode of a file that is there
            shutil.copyfile(backup, copy)
            found = _examine(backup, copy)  # the copy is what gets migrated: examine it
            if found.problems:
                return found
            migrations.migrate(copy, create=False)
        except (TorrentinoError, sqlite3.Error, OSError) as error:
            found.problems.append(f"migrating a copy to the current schema failed: {error}")
            return found
        _check(found, copy)
    return found


@dataclass(frozen=True)
class Restored:
    """What a restore did."""

    backup: Path
    database: Path
    moved_aside: list[Path]
    from_schema_version: int
    tickets: int
    keys: KeyChanges


def restore_backup(
    backup: Path,
    db_path: Path,
    *,
    actor: str,
    before_replacing: Callable[[], None] | None = None,
) -> Restored:
    """Make `backup` the live database; the current one is renamed aside, not deleted.

    `before_replacing` runs once the backup is prepared and checked, with the database
    still in place and no one else using it (the command line backs it up there).
    Raises `BackupUnusable` (with every reason) or `DatabaseInUse`, having changed
    nothing; `StorageUnavailable` or `OSError` if the disk fails meanwhile.
    """
    if not backup.is_file():
        raise BackupUnusable(backup, ["it does not exist or is not a file"])
    stamp = utc_now().strftime("%Y%m%dT%H%M%S.%fZ")
    prepared = db_path.with_name(f".{db_path.name}.restoring-{stamp}")
    aside = db_path.with_name(f"{db_path.stem}.before-restore-{stamp}{db_path.suffix}")
    private.make_folder(db_path.parent)
    try:
        private.create_file(prepared)  # copyfile keeps the mode of a file that is there
        shutil.copyfile(backup, prepared)  # examined, migrated and used: one private copy
        found = _examine(backup, prepared)
        if found.problems:
            raise BackupUnusable(backup, found.problems)
        with lock.sole_user(db_path):
            keys = _prepare(found, prepared, db_path, aside, actor)
            if before_replacing is not None and db_path.exists():
                before_replacing()
            moved = _move_aside(db_path, aside)
            try:
                prepared.rename(db_path)
            except OSError:
                _move_back(moved)
                raise
            fsync_path(db_path.parent)
    finally:
        for suffix in DATABASE_FILES:
            Path(f"{prepared}{suffix}").unlink(missing_ok=True)
    moved_aside = [target for _, target in moved]
    return Restored(backup, db_path, moved_aside, found.schema_version, found.tickets, keys)


def _prepare(
    found: Examination, prepared: Path, db_path: Path, aside: Path, actor: str
) -> KeyChanges:
    """Migrate and check the examined copy at `prepared`, square its keys with the live
    database's and record `backup_restored`; raises `BackupUnusable` if it fails the
    check."""
    try:
        migrations.migrate(prepared, create=False)
    except (TorrentinoError, sqlite3.Error) as error:
        raise BackupUnusable(found.path, [f"migrating it failed: {error}"]) from error
    _check(found, prepared)
    if found.problems:
        raise BackupUnusable(found.path, found.problems)
    previous = aside.name if db_path.exists() else None
    data: dict[str, object] = {
        "file": found.path.name,
        "sha256": found.sha256,
        "tickets": found.tickets,
        "from_schema_version": found.schema_version,
        "to_schema_version": len(migrations.MIGRATIONS),
        "previous_database": previous,
    }
    live = live_keys(db_path)
    with db.connect(prepared) as conn, db.transaction(conn):
        now = utc_now()
        keys = square_keys(conn, live, previous=previous, actor=actor, at=now)
        if live[0] or keys.unchecked:  # with no key on either side, the event is as it was
            data["keys"] = keys.summary()
        record(conn, AuditEventType.BACKUP_RESTORED, data, actor=actor, at=now)
    # Closing the last connection folded the WAL into the file: one file to move.
    _match_owner(prepared, db_path)
    fsync_path(prepared)
    return keys


def _match_owner(prepared: Path, db_path: Path) -> None:
    """Give the restored file the mode (and, as root, the owner) of the one it replaces,
    so a server running as another user can still write it."""
    try:
        current = db_path.stat()
    except FileNotFoundError:
        return
    os.chmod(prepared, current.st_mode & 0o7777)
    if os.geteuid() == 0:
        os.chown(prepared, current.st_uid, current.st_gid)


def _move_aside(db_path: Path, aside: Path) -> list[tuple[Path, Path]]:
    moved = []
    for suffix in DATABASE_FILES:
        source, target = Path(f"{db_path}{suffix}"), Path(f"{aside}{suffix}")
        if source.exists():
            source.rename(target)
            moved.append((source, target))
    return moved


def _move_back(moved: list[tuple[Path, Path]]) -> None:
    for source, target in moved:
        target.rename(source)
