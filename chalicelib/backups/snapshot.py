"""The snapshot a backup starts from: the live database as of one moment, copied by SQLite
(never a file copy, which can tear), without writing the live file; and `take`, which
verifies it and publishes it as a backup.

* **WAL** (the default): `VACUUM INTO` from a read-only connection. It reads inside one
  read transaction, which in WAL mode never blocks a writer, and writes a compact file.
* **A rollback journal** (`TORRENTINO_JOURNAL_MODE=truncate|delete`, the EFS stage): there
  a read transaction holds SHARED until it ends, and a writer needs EXCLUSIVE to commit,
  so one long read would make every writer wait (and answer 503 after the busy timeout),
  and readers too once a writer waits. So the copy goes step by step with SQLite's online
  backup API: each step holds the read lock only while it copies `STEP_BYTES`, and a
  writer waiting to commit holds PENDING, which keeps the next step out until it is done.
  A write by another connection between two steps makes SQLite start the copy over, so
  the result is still one moment's database. A database written more often than a whole
  copy takes would restart it forever: after `MAX_RESTARTS` restarts, the copy is made in
  one step, holding the read lock until it is done, and writers wait for it (the busy
  case; the returned note says so).
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from chalicelib import __version__, settings
from chalicelib.backups import restore
from chalicelib.backups.files import (
    BackupManifest,
    apply_retention,
    publish,
    remove_leftovers,
    temp_path,
)
from chalicelib.backups.kinds import BackupKind, backup_name
from chalicelib.errors import BackupFailed
from chalicelib.storage import db, private
from chalicelib.timestamps import utc_now

# About a millisecond of copying on a local disk, a few over EFS: the longest a writer
# waits for a step.
STEP_BYTES = 1 << 20
MAX_RESTARTS = 10
# How often a step blocked by a writer tries again.
LOCKED_POLL_SECONDS = 0.01


class _TooManyRestarts(Exception):
    """The step-by-step copy was started over `MAX_RESTARTS` times."""


class _Progress:
    """Follows a copy's steps: counts its restarts, and gives up when writers keep the
    database locked for longer than the busy timeout."""

    def __init__(self) -> None:
        self.restarts = 0
        self.remaining_before: int | None = None
        self.locked_since: float | None = None

    def __call__(self, status: int, remaining: int, _total: int) -> None:
        if status in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            now = time.monotonic()
            if self.locked_since is None:
                self.locked_since = now
            if now - self.locked_since > settings.busy_timeout_ms() / 1000:
                raise BackupFailed(
                    "writers kept the database locked for longer than the busy timeout "
                    f"({settings.busy_timeout_ms()} ms); the backup was given up, retry later"
                )
            return
        self.locked_since = None
        # A restart copies from the first page again: what is left to copy goes back up
        # (or stays the same, when the copy had made only its first step).
        if self.remaining_before is not None and remaining >= self.remaining_before:
            self.restarts += 1
            if self.restarts == MAX_RESTARTS:
                raise _TooManyRestarts
        self.remaining_before = remaining


def take_snapshot(db_path: Path, temp: Path) -> str | None:
    """Copy the live database at `db_path` into the new file `temp`, as of one moment.

    Returns None, or a note when the copy had to hold the database's read lock for its
    whole run (writers waited for it). Raises `BackupFailed` when there is no database,
    too little space, the copy cannot be written, or writers keep the database locked.
    """
    if not db_path.is_file():
        raise BackupFailed(f"there is no database at {db_path}")
    rollback = settings.is_rollback(settings.journal_mode())
    with db.connect(db_path, read_only=True) as source:
        page_size = source.execute("PRAGMA page_size").fetchone()[0]
        pages = source.execute("PRAGMA page_count").fetchone()[0]
        if not rollback:  # VACUUM INTO leaves the free pages out
            pages -= source.execute("PRAGMA freelist_count").fetchone()[0]
        available = shutil.disk_usage(temp.parent).free
        if available < pages * page_size:
            raise BackupFailed(
                f"not enough space in {temp.parent}: {mib(available)} free, the backup "
                f"needs about {mib(pages * page_size)}"
            )
        try:
            if rollback:
                return _copy_step_by_step(source, temp, page_size)
            private.create_file(temp)  # VACUUM INTO fills an empty file, keeping its mode
            source.execute("VACUUM INTO ?", (str(temp),))
            return None
        except sqlite3.Error as error:  # the backup's file, not the live database, failed
            raise BackupFailed(_write_failure(error, temp.parent)) from error


def _copy_step_by_step(source: sqlite3.Connection, temp: Path, page_size: int) -> str | None:
    # SQLite's busy handler adds up its waits over all the steps of a backup, so on a long
    # one it would run out and stay out: a locked step returns at once and is retried
    # every LOCKED_POLL_SECONDS instead, and `_Progress` keeps the time.
    source.execute("PRAGMA busy_timeout = 0")
    progress = _Progress()
    # The target is the backup's new file, not a database torrentino serves: none of
    # db.connect's settings apply, and the copy brings its header.
    with db.bare(temp, create=True) as target:
        try:
            source.backup(
                target,
                pages=max(1, STEP_BYTES // page_size),
                progress=progress,
                sleep=LOCKED_POLL_SECONDS,
            )
        except _TooManyRestarts:
            # One step: the read lock is held until it is done.
            source.backup(target, progress=_Progress(), sleep=LOCKED_POLL_SECONDS)
            return (
                f"copied in one step: writes started the step-by-step copy over "
                f"{progress.restarts} times (the database is written more often than a copy "
                "takes), so writers waited for this copy, and may have answered 503 (the "
                "busy case of a rollback journal)"
            )
    return None


def mib(size: int) -> str:
    """A size in MiB, for people."""
    return f"{size / 2**20:,.1f} MiB"


def _write_failure(error: sqlite3.Error, backup_dir: Path) -> str:
    reason = f"writing the backup into {backup_dir} failed: {error}"
    if "I/O" in str(error) or "full" in str(error):
        try:
            free = mib(shutil.disk_usage(backup_dir).free)
        except OSError:
            free = "unknown"
        reason += f" (a full disk or a file size limit does this; free space: {free})"
    return reason


def retain(backup_dir: Path, stem: str) -> list[str]:
    """Apply retention with the configured numbers (`backup_files.apply_retention`)."""
    return apply_retention(
        backup_dir,
        stem,
        keep_daily=settings.backup_keep_daily(),
        keep_weekly=settings.backup_keep_weekly(),
        keep_manual=settings.backup_keep_manual(),
    )


def take(
    db_path: Path,
    backup_dir: Path,
    kind: BackupKind,
    *,
    upgrade: tuple[int, int] | None = None,
) -> tuple[BackupManifest, str | None]:
    """Snapshot, verify and publish one backup of `kind`, for a caller that holds the
    backup directory's lock; its manifest, and the snapshot's note if any. Raises
    `BackupFailed` (the snapshot failed verification) or what the disk raises."""
    remove_leftovers(backup_dir, db_path.stem)
    started, clock = utc_now(), time.monotonic()  # once this backup has the directory
    final = backup_dir / backup_name(db_path.stem, started, kind, upgrade=upgrade)
    temp = temp_path(final)
    try:
        note = take_snapshot(db_path, temp)  # readable by its owner only, as its manifest
        found = restore.verify_backup(temp)
        if found.problems:
            raise BackupFailed(
                f"the snapshot failed verification, so the live database needs attention "
                f"(run make check-db): {'; '.join(found.problems[:3])}"
            )
        manifest = BackupManifest(
            name=final.name,
            taken_at=started,
            size_bytes=temp.stat().st_size,
            sha256=found.sha256,
            tickets=found.tickets,
            events=found.events,
            schema_version=found.schema_version,
            duration_seconds=round(time.monotonic() - clock, 3),
            torrentino_version=__version__,
        )
        publish(temp, final, manifest)
    finally:
        for suffix in ("", "-journal", "-wal", "-shm", ".json"):
            Path(f"{temp}{suffix}").unlink(missing_ok=True)
    return manifest, note
