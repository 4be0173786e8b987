"""Backups: consistent snapshots of the live database, verified before they count, and
when the next one is due. docs/backups.md tells the whole story; the command line
(`make backup`, `make backups`, ...) is in `chalicelib.cli`.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field

from chalicelib import settings
from chalicelib.actors import SYSTEM_ACTOR
from chalicelib.audit.events import AuditEventType, record
from chalicelib.backups.files import BackupInfo, BackupManifest, directory_lock, list_backups
from chalicelib.backups.kinds import BackupKind, kind_of
from chalicelib.backups.snapshot import retain, take
from chalicelib.errors import (
    BackupFailed,
    BackupInProgress,
    TorrentinoError,
)
from chalicelib.storage import db, lock, private
from chalicelib.timestamps import utc_now

# A timer that fires a little early (EventBridge, a restarted server) must not skip a day.
DUE_SLACK = 0.1


class CreatedBackup(BackupInfo):
    """A backup just taken, how long it took, and what retention removed after it."""

    duration_seconds: float
    removed: list[str] = Field(description="Older backups that retention deleted after it.")
    note: str | None = Field(
        default=None,
        description="Set when the copy held the database's read lock for its whole run "
        "(a rollback journal on a busy database): writers waited for it.",
    )


def create_backup(
    db_path: Path,
    *,
    actor: str,
    kind: BackupKind = BackupKind.SCHEDULED,
    backup_dir: Path | None = None,
    wait: float | None = None,
    on_wait: Callable[[], None] | None = None,
) -> CreatedBackup:
    """Snapshot the live database into the backup directory, verify it, publish it, apply
    retention, and record `backup_created` (or `backup_failed`, with the reason).

    `kind` is scheduled or manual (the kinds taken before an upgrade or a restore are
    taken by `chalicelib.upgrade` and the restore command). Safe while the server serves
    writes. While another backup runs it waits up to `wait` seconds (default: the busy
    timeout; `math.inf`: until it is done), calling `on_wait` once. Raises
    `BackupInProgress`, `BackupFailed`, or `StorageUnavailable` while a restore is running.
    """
    backup_dir = backup_dir or settings.backup_dir(db_path)
    if wait is None:
        wait = settings.busy_timeout_ms() / 1000
    with lock.in_use(db_path):
        try:
            private.make_folder(backup_dir)
            with directory_lock(backup_dir, wait=wait, on_wait=on_wait):
                manifest, note = take(db_path, backup_dir, kind)
                removed = retain(backup_dir, db_path.stem)
        except BackupInProgress:
            raise
        except (TorrentinoError, OSError, sqlite3.Error) as error:
            why = reason(error)
            if not _record(db_path, AuditEventType.BACKUP_FAILED, {"reason": why}, actor):
                why += " (not in the audit log: the database cannot be written either)"
            raise BackupFailed(why) from error
        created = CreatedBackup(
            name=manifest.name,
            taken_at=manifest.taken_at,
            size_bytes=manifest.size_bytes,
            tickets=manifest.tickets,
            verified=True,
            duration_seconds=manifest.duration_seconds,
            removed=removed,
            note=note,
        )
        if note is not None:
            _say(f"backup {manifest.name}: {note}")
        record_created(db_path, manifest, removed, actor, note=note)
    return created


def record_created(
    db_path: Path,
    manifest: BackupManifest,
    removed: list[str],
    actor: str,
    *,
    note: str | None = None,
    **more: Any,
) -> None:
    """Record `backup_created` for the backup `manifest` describes: its file, size,
    tickets, time and what retention removed after it, and its kind unless scheduled."""
    data: dict[str, Any] = {
        "file": manifest.name,
        "size_bytes": manifest.size_bytes,
        "tickets": manifest.tickets,
        "duration_seconds": manifest.duration_seconds,
        "removed": removed,
    }
    kind = kind_of(manifest.name)
    if kind is not BackupKind.SCHEDULED:
        data["kind"] = kind.value
    if note is not None:
        data["note"] = note
    _record(db_path, AuditEventType.BACKUP_CREATED, {**data, **more}, actor)


def reason(error: Exception) -> str:
    """What went wrong, in words a system administrator can act on."""
    if isinstance(error, TorrentinoError):
        return error.message
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}"
    return f"the backup failed: {error}"


def _record(db_path: Path, event_type: AuditEventType, data: dict[str, Any], actor: str) -> bool:
    """Record a backup event in the live database; False (and a line on stderr) if it
    cannot be written: the backup's own outcome matters more than its log entry."""
    try:
        with db.connect(db_path) as conn, db.transaction(conn):
            record(conn, event_type, data, actor=actor, at=utc_now())
    except (TorrentinoError, sqlite3.Error) as error:
        _say(f"could not record {event_type.value}: {error}")
        return False
    return True


def _say(message: str) -> None:
    with contextlib.suppress(OSError):  # stderr may be on the same full disk
        print(f"torrentino: {message}", file=sys.stderr)


def seconds_until_due(db_path: Path, backup_dir: Path | None = None) -> float | None:
    """How long until a scheduled backup is due (0 if it is now); None when scheduled
    backups are off (`TORRENTINO_BACKUP_EVERY_HOURS=0`)."""
    hours = settings.backup_every_hours()
    if hours == 0:
        return None
    backups = list_backups(backup_dir or settings.backup_dir(db_path), db_path.stem)
    if not backups:
        return 0.0
    due = backups[0].taken_at + timedelta(hours=hours) * (1 - DUE_SLACK)
    return max(0.0, (due - utc_now()).total_seconds())


def backup_if_due(
    db_path: Path, *, actor: str = SYSTEM_ACTOR, backup_dir: Path | None = None
) -> CreatedBackup | None:
    """Take a backup if the newest one is older than the schedule's interval (a tenth
    of slack); None if it is not due or scheduled backups are off."""
    if seconds_until_due(db_path, backup_dir) != 0.0:
        return None
    return create_backup(db_path, actor=actor, backup_dir=backup_dir)


def before_restore(db_path: Path, backup_dir: Path) -> str:
    """Back up the database a restore is about to replace, as a verified backup of its own
    kind (restorable by name, to undo the restore), after any backup under way; what
    happened, in words. A database that fails verification (a damaged one is often why it
    is being replaced) is not backed up, and the restore goes on: the file itself is still
    kept aside."""
    try:
        private.make_folder(backup_dir)
        with directory_lock(backup_dir, wait=math.inf):
            manifest, _ = take(db_path, backup_dir, BackupKind.BEFORE_RESTORE)
            retain(backup_dir, db_path.stem)
    except (TorrentinoError, OSError, sqlite3.Error) as error:
        return f"no backup of the database it replaced was taken: {reason(error)}"
    return f"the database it replaced is backed up as {backup_dir / manifest.name} (verified)"
