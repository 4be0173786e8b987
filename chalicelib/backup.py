"""Backups: consistent snapshots of the live database, verified before they count.

    python -m chalicelib.backup create [--if-due]   # take one now (make backup)
    python -m chalicelib.backup list                # newest first (make backups)
    python -m chalicelib.backup verify [FILE ...]   # re-read and check (default: all)
    python -m chalicelib.backup restore FILE        # server stopped (make restore FILE=...)

The database is TORRENTINO_DB_PATH (or the default) and backups go to
TORRENTINO_BACKUP_DIR (default: `backups/` beside that database, `--db`'s when given);
`--db` and `--backup-dir` override them. docs/backups.md tells the whole story.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sqlite3
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field

from chalicelib import db, migrations, restore, settings
from chalicelib.actors import CLI_ACTOR, SYSTEM_ACTOR
from chalicelib.audit.events import AuditEventType, record
from chalicelib.backup_files import (
    BackupInfo,
    BackupManifest,
    directory_lock,
    list_backups,
)
from chalicelib.backup_kinds import BackupKind, kind_of
from chalicelib.cli import command_parser
from chalicelib.errors import (
    BackupFailed,
    BackupInProgress,
    TorrentinoError,
)
from chalicelib.snapshot import mib, retain, take
from chalicelib.timestamps import format_timestamp, utc_now

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
    with restore.in_use(db_path):
        try:
            backup_dir.mkdir(parents=True, exist_ok=True)
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


def _parser() -> argparse.ArgumentParser:
    parser = command_parser("backup", __doc__)
    parser.add_argument("--backup-dir", type=Path, help="default: TORRENTINO_BACKUP_DIR")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="take a backup now")
    create.add_argument("--if-due", action="store_true", help="only if the schedule says so")
    commands.add_parser("list", help="list backups, newest first")
    verify = commands.add_parser("verify", help="re-read and check backups (default: all)")
    verify.add_argument("files", nargs="*", type=Path)
    restore_command = commands.add_parser("restore", help="make a backup the live database")
    restore_command.add_argument("file", type=Path)
    return parser


def _resolve(file: Path, backup_dir: Path) -> Path:
    """A path as given, or the name of a backup in the backup directory."""
    return file if file.exists() or file.parent != Path() else backup_dir / file


def _say_waiting() -> None:
    print("another backup is being taken; waiting for it to finish", file=sys.stderr)


def _print_created(created: CreatedBackup, backup_dir: Path) -> None:
    print(
        f"created {backup_dir / created.name} ({created.tickets} tickets, "
        f"{mib(created.size_bytes)}, verified, {created.duration_seconds:.1f} s)"
    )
    for name in created.removed:
        print(f"retention removed {name}")


def _verify(files: list[Path]) -> int:
    status = 0
    for file in files:
        found = restore.verify_backup(file)
        if found.problems:
            status = 1
            print(f"{file}: REFUSED")
            for problem in found.problems:
                print(f"  {problem}")
            continue
        how = "checksum and check" if found.checksummed else "check only, no manifest"
        print(f"{file}: ok ({found.tickets} tickets, schema {found.schema_version}, {how})")
    return status


def _run(args: argparse.Namespace, db_path: Path, backup_dir: Path) -> int:
    if args.command == "create":
        created = (
            backup_if_due(db_path, actor=CLI_ACTOR, backup_dir=backup_dir)
            if args.if_due
            else create_backup(
                db_path,
                actor=CLI_ACTOR,
                kind=BackupKind.MANUAL,
                backup_dir=backup_dir,
                wait=math.inf,
                on_wait=_say_waiting,
            )
        )
        if created is None:
            print("no backup due")
        else:
            _print_created(created, backup_dir)
    elif args.command == "list":
        for info in list_backups(backup_dir, db_path.stem):
            state = "verified" if info.verified else f"NOT VERIFIED: {info.problem}"
            tickets = "?" if info.tickets is None else f"{info.tickets:,}"
            print(
                f"{info.name}  {format_timestamp(info.taken_at)}  {info.kind:<14}  "
                f"{mib(info.size_bytes):>12}  {tickets:>9} tickets  {state}"
            )
    elif args.command == "verify":
        files = args.files or [
            backup_dir / info.name for info in list_backups(backup_dir, db_path.stem)
        ]
        return _verify([_resolve(file, backup_dir) for file in files])
    else:
        copies: list[str] = []
        done = restore.restore_backup(
            _resolve(args.file, backup_dir),
            db_path,
            actor=CLI_ACTOR,
            before_replacing=lambda: copies.append(_before_restore(db_path, backup_dir)),
        )
        print(
            f"restored {done.backup} into {done.database} ({done.tickets} tickets, schema "
            f"{done.from_schema_version} -> {len(migrations.MIGRATIONS)})"
        )
        for path in done.moved_aside:
            print(f"the database it replaced is kept as {path}")
        for line in copies:
            print(line)
    return 0


def _before_restore(db_path: Path, backup_dir: Path) -> str:
    """Back up the database a restore is about to replace, as a verified backup of its own
    kind (restorable by name, to undo the restore); what happened, in words. A database
    that fails verification (a damaged one is often why it is being replaced) is not
    backed up, and the restore goes on: the file itself is still kept aside."""
    try:
        backup_dir.mkdir(parents=True, exist_ok=True)
        with directory_lock(backup_dir, wait=math.inf, on_wait=_say_waiting):
            manifest, _ = take(db_path, backup_dir, BackupKind.BEFORE_RESTORE)
            retain(backup_dir, db_path.stem)
    except (TorrentinoError, OSError, sqlite3.Error) as error:
        return f"no backup of the database it replaced was taken: {reason(error)}"
    return f"the database it replaced is backed up as {backup_dir / manifest.name} (verified)"


def main(argv: list[str] | None = None) -> int:
    """Run the backup command line; return the exit status."""
    args = _parser().parse_args(argv)
    db_path: Path = args.db or settings.db_path()
    backup_dir: Path = args.backup_dir or settings.backup_dir(db_path)
    try:
        return _run(args, db_path, backup_dir)
    except TorrentinoError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: {error.strerror or error}: {error.filename}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
