"""Upgrading a database to this torrentino's schema without putting it at risk.

A database on an older schema (one an older torrentino made) is first backed up as it is:
a verified backup of the kind "before upgrade", named with both schema versions
(`torrentino-<time>Z-before-upgrade-8-to-9.db`). Verifying a backup of an older schema
migrates a copy of it and checks the copy, so the upgrade is rehearsed before the live
file is touched. Then every pending step runs in one transaction (`migrations.migrate`):
a step that fails leaves the file as it was. The log says which steps ran and how long
each took. Retention never deletes a backup taken before an upgrade; the next upgrade
that succeeds deletes the ones before it.

The backup directory's lock is held from the backup to the end of the migration, so of
two processes starting together only one upgrades; the other finds the work done.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import time
from pathlib import Path

from chalicelib import settings
from chalicelib.actors import SYSTEM_ACTOR
from chalicelib.backups.backup import reason, record_created
from chalicelib.backups.files import directory_lock, remove_older_upgrade_backups
from chalicelib.backups.kinds import BackupKind
from chalicelib.backups.snapshot import take
from chalicelib.errors import TorrentinoError, UpgradeFailed
from chalicelib.storage import db, migrations, private


def upgrade(path: Path, *, create: bool) -> int:
    """Bring the database at `path` to this torrentino's schema; return its version.

    A new file (made only if `create`), an empty one and one already current are just
    migrated, as `migrations.migrate` does. Raises `UpgradeFailed` when the backup before
    an upgrade, or the upgrade itself, failed (the database unchanged either way),
    `BackupInProgress` while another backup holds the backup directory for longer than
    the busy timeout, and what `migrations.migrate` raises.
    """
    current = len(migrations.MIGRATIONS)
    found = schema_version_of(path)
    if not 0 < found < current:
        return migrations.migrate(path, create=create)
    backup_dir = settings.backup_dir(path)
    try:
        private.make_folder(backup_dir)
    except OSError as error:
        raise _backup_failed(path, found, error) from error
    with directory_lock(backup_dir, wait=settings.busy_timeout_ms() / 1000):
        return _upgrade_locked(path, backup_dir)


def schema_version_of(path: Path) -> int:
    """The schema version of the database file at `path`: 0 when there is no file yet, or
    it cannot be read (`migrate` then says why)."""
    if not path.is_file():
        return 0
    try:
        with db.connect(path, read_only=True) as conn:
            return migrations.schema_version(conn)
    except (TorrentinoError, sqlite3.Error):
        return 0


def _upgrade_locked(path: Path, backup_dir: Path) -> int:
    current = len(migrations.MIGRATIONS)
    found = schema_version_of(path)  # again: another process may have upgraded it meanwhile
    if not 0 < found < current:
        return migrations.migrate(path, create=False)
    try:
        manifest, _ = take(path, backup_dir, BackupKind.BEFORE_UPGRADE, upgrade=(found, current))
    except (TorrentinoError, OSError, sqlite3.Error) as error:
        raise _backup_failed(path, found, error) from error
    _say(
        f"before upgrading {path} from schema {found} to {current}: backed it up as "
        f"{backup_dir / manifest.name} (verified, {manifest.duration_seconds:.1f} s)"
    )
    started = time.monotonic()
    try:
        migrations.migrate(path, create=False, on_step=_say_step)
    except (TorrentinoError, sqlite3.Error) as error:
        raise UpgradeFailed(
            f"upgrading the database {path} from schema {found} to {current} failed: "
            f"{reason(error)}. It is as it was (schema {found}), and backed up as "
            f"{manifest.name}; torrentino does not serve it until the cause is fixed"
        ) from error
    _say(
        f"upgraded {path} from schema {found} to {current} (steps {found + 1} to {current}) "
        f"in {time.monotonic() - started:.3f} s"
    )
    removed = remove_older_upgrade_backups(backup_dir, path.stem, manifest.name)
    for name in removed:
        _say(f"removed {name}: a later upgrade has succeeded")
    record_created(
        path,
        manifest,
        removed,
        SYSTEM_ACTOR,
        from_schema_version=found,
        to_schema_version=current,
    )
    return current


def _backup_failed(path: Path, found: int, error: Exception) -> UpgradeFailed:
    current = len(migrations.MIGRATIONS)
    where = (
        f" ({settings.BACKUP_DIR_VARIABLE} says where backups go)"
        if isinstance(error, OSError)
        else ""
    )
    return UpgradeFailed(
        f"the database {path} needs an upgrade from schema {found} to {current}, and the "
        f"backup taken before it failed: {reason(error)}. The database was not touched; "
        f"torrentino does not serve it until a backup can be taken{where}"
    )


def _say_step(number: int, name: str, seconds: float) -> None:
    _say(f"schema step {number} ({name}) ran in {seconds:.3f} s")


def _say(message: str) -> None:
    with contextlib.suppress(OSError):  # stderr may be on a full disk
        print(f"torrentino: {message}", file=sys.stderr)
