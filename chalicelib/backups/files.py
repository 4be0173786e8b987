"""Backup files on disk: names that sort by time, manifests, durable publishing, retention.

A backup of `torrentino.db` is `torrentino-20251127T141500.123Z.db` (the UTC time its
snapshot began, then its kind, if it is not a scheduled one: `chalicelib/backups/kinds.py`)
in the backup directory, with its manifest `<name>.json` beside it: what it holds, its
size and SHA-256, written once the backup passed the consistency check. Listing reads
only the manifests and the directory, so it is cheap at any size. Retention keeps each
kind by a rule of its own.

A backup is built under a hidden temporary name and only renamed to its real name once
it is complete, synced and verified, so a listed backup is never half-written. Only
names of this exact shape are ever listed or deleted; nothing else in the directory is
touched.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.backups.kinds import BackupKind, kind_of
from chalicelib.backups.kinds import backup_name as backup_name  # noqa: PLC0414 (re-exported)
from chalicelib.backups.kinds import kept_by_retention as kept_by_retention  # noqa: PLC0414
from chalicelib.backups.kinds import taken_at as taken_at  # noqa: PLC0414 (re-exported)
from chalicelib.errors import BackupInProgress, StorageUnavailable
from chalicelib.storage import private
from chalicelib.timestamps import Timestamp

MANIFEST_SUFFIX = ".json"
TEMP_SUFFIX = ".tmp"
LOCK_NAME = ".torrentino-backup.lock"
BUSY_RETRY_SECONDS = 10
LOCK_POLL_SECONDS = 0.05


class BackupManifest(BaseModel):
    """What a verified backup holds, written beside it."""

    model_config = ConfigDict(frozen=True)

    name: str
    taken_at: Timestamp
    size_bytes: int
    sha256: str
    tickets: int
    events: int
    schema_version: int
    duration_seconds: float
    torrentino_version: str


class BackupInfo(BaseModel):
    """One backup as `list` and the API show it."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="The file's name in the backup directory.")
    taken_at: Timestamp = Field(description="When its snapshot began (UTC).")
    size_bytes: int
    tickets: int | None = Field(description="Tickets it holds (null without a manifest).")
    verified: bool = Field(
        description="It passed the consistency check when it was taken and its size is "
        "unchanged since; `python -m chalicelib.backup verify` re-reads it whole."
    )
    problem: str | None = Field(default=None, description="Why it does not count as verified.")

    @property
    def kind(self) -> BackupKind:
        """What took it, read from its name."""
        return kind_of(self.name)


class BackupList(BaseModel):
    """The backups in the backup directory, newest first."""

    model_config = ConfigDict(frozen=True)

    backups: list[BackupInfo]


def manifest_path(backup: Path) -> Path:
    """Where the manifest of `backup` lives."""
    return backup.with_name(backup.name + MANIFEST_SUFFIX)


def read_manifest(backup: Path) -> BackupManifest | None:
    """The manifest written for `backup`, or None if there is none or it cannot be read."""
    try:
        return BackupManifest.model_validate_json(manifest_path(backup).read_bytes())
    except (OSError, ValidationError):
        return None


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's contents, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """Flush a file's (or a directory's) contents and metadata to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(temp: Path, final: Path, manifest: BackupManifest) -> None:
    """Give a complete, verified backup its real name, manifest first, both synced.

    A crash between the two renames leaves a manifest without its backup, which is never
    listed and is removed by the next backup. Raises `FileExistsError` rather than
    replace a backup already there.
    """
    if final.exists():
        raise FileExistsError(f"{final} already exists")
    fsync_path(temp)
    manifest_file = manifest_path(final)
    manifest_temp = temp.with_name(temp.name + MANIFEST_SUFFIX)
    private.write_file(manifest_temp, manifest.model_dump_json(indent=2) + "\n")
    fsync_path(manifest_temp)
    manifest_temp.rename(manifest_file)
    temp.rename(final)
    fsync_path(final.parent)


def temp_path(final: Path) -> Path:
    """The hidden name a backup is built under until it is published."""
    return final.with_name(f".{final.name}{TEMP_SUFFIX}")


def list_backups(backup_dir: Path, stem: str) -> list[BackupInfo]:
    """Every backup of database `<stem>.db` in `backup_dir`, newest first (none if the
    folder does not exist yet); raises `StorageUnavailable` if it cannot be read."""
    found = []
    for path, at in _backups(backup_dir, stem):
        try:
            size = path.stat().st_size
        except FileNotFoundError:  # removed by retention meanwhile
            continue
        manifest = read_manifest(path)
        problem = None
        if manifest is None:
            problem = "no manifest: taken elsewhere or interrupted; run verify"
        elif manifest.name != path.name:
            problem = f"its manifest describes {manifest.name}"
        elif manifest.size_bytes != size:
            problem = f"its size changed from {manifest.size_bytes} bytes since it was verified"
        found.append(
            BackupInfo(
                name=path.name,
                taken_at=manifest.taken_at if manifest and problem is None else at,
                size_bytes=size,
                tickets=manifest.tickets if manifest else None,
                verified=problem is None,
                problem=problem,
            )
        )
    return sorted(found, key=lambda info: info.taken_at, reverse=True)


def _backups(backup_dir: Path, stem: str) -> Iterator[tuple[Path, datetime]]:
    try:
        names = os.listdir(backup_dir)
    except FileNotFoundError:  # no backup taken yet
        return
    except OSError as error:  # not a directory, no permission, a failing disk
        raise StorageUnavailable(
            f"the backup folder {backup_dir} cannot be read: {error.strerror or error}"
        ) from error
    for name in names:
        at = taken_at(stem, name)
        if at is not None:
            yield backup_dir / name, at


def apply_retention(
    backup_dir: Path, stem: str, *, keep_daily: int, keep_weekly: int, keep_manual: int
) -> list[str]:
    """Delete the verified backups (and their manifests) that retention does not keep;
    return their names, oldest first. Call it only right after a new backup was verified.

    Each kind has its rule: scheduled backups the newest of each of `keep_daily` days and
    `keep_weekly` weeks (`kept_by_retention`); manual ones, and those taken before a
    restore, the newest `keep_manual` of each kind (at least the newest); those taken
    before an upgrade are left to `remove_older_upgrade_backups`. Only verified backups
    (as `list_backups` says) count: a file without a manifest that vouches for it, copied
    in by hand say, neither pushes a verified backup out of its day or week nor is ever
    deleted here.
    """
    verified = [info for info in list_backups(backup_dir, stem) if info.verified]
    scheduled = [info for info in verified if info.kind is BackupKind.SCHEDULED]
    kept = kept_by_retention(
        (info.taken_at for info in scheduled), keep_daily=keep_daily, keep_weekly=keep_weekly
    )
    doomed = [info for info in scheduled if info.taken_at not in kept]
    for kind in (BackupKind.MANUAL, BackupKind.BEFORE_RESTORE):
        doomed += [info for info in verified if info.kind is kind][max(keep_manual, 1) :]
    return _remove(backup_dir, doomed)


def remove_older_upgrade_backups(backup_dir: Path, stem: str, newest: str) -> list[str]:
    """Once an upgrade has succeeded, delete the verified backups taken before earlier
    upgrades (or earlier tries of this one) than the one named `newest`; their names."""
    listed = list_backups(backup_dir, stem)
    newest_at = next(info.taken_at for info in listed if info.name == newest)
    return _remove(
        backup_dir,
        [
            info
            for info in listed
            if info.verified
            and info.kind is BackupKind.BEFORE_UPGRADE
            and info.taken_at < newest_at
        ],
    )


def _remove(backup_dir: Path, doomed: list[BackupInfo]) -> list[str]:
    removed = sorted((info.taken_at, backup_dir / info.name) for info in doomed)
    for _, path in removed:
        path.unlink(missing_ok=True)  # the backup first: a manifest alone is never listed
        manifest_path(path).unlink(missing_ok=True)
    if removed:
        fsync_path(backup_dir)
    return [path.name for _, path in removed]


def remove_leftovers(backup_dir: Path, stem: str) -> None:
    """Remove what interrupted backups left: temporary files and manifests without a
    backup. Only while holding `directory_lock`, so no running backup's files go."""
    for name in os.listdir(backup_dir):
        path = backup_dir / name
        if name.startswith(f".{stem}-") and TEMP_SUFFIX in name:
            path.unlink(missing_ok=True)
        elif name.endswith(MANIFEST_SUFFIX):
            backup = path.with_name(name.removesuffix(MANIFEST_SUFFIX))
            if taken_at(stem, backup.name) is not None and not backup.exists():
                path.unlink(missing_ok=True)


@contextmanager
def directory_lock(
    backup_dir: Path, *, wait: float, on_wait: Callable[[], None] | None = None
) -> Iterator[None]:
    """Hold the backup directory's lock (one backup at a time, across processes).

    While another backup holds it, wait up to `wait` seconds (`math.inf`: as long as it
    takes), calling `on_wait` once; raises `BackupInProgress` when the time is up.
    """
    fd = private.open_file(backup_dir / LOCK_NAME, os.O_RDONLY | os.O_CREAT)
    try:
        deadline = time.monotonic() + wait
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BackupInProgress(backup_dir, retry_after=BUSY_RETRY_SECONDS) from None
                if on_wait is not None and not waited:
                    on_wait()
                waited = True
                time.sleep(LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # releases the lock
