"""Backup files on disk: names that sort by time, manifests, durable publishing, retention.

A backup of `torrentino.db` is `torrentino-20251127T141500.123Z.db` (the UTC time its
snapshot began) in the backup directory, with its manifest `<name>.json` beside it: what
it holds, its size and SHA-256, written once the backup passed the consistency check.
Listing reads only the manifests and the directory, so it is cheap at any size.

A backup is built under a hidden temporary name and only renamed to its real name once
it is complete, synced and verified, so a listed backup is never half-written. Only
names of this exact shape are ever listed or deleted; nothing else in the directory is
touched.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.errors import BackupInProgress, StorageUnavailable
from chalicelib.storage import private
from chalicelib.timestamps import Timestamp

MANIFEST_SUFFIX = ".json"
TEMP_SUFFIX = ".tmp"
LOCK_NAME = ".torrentino-backup.lock"
BUSY_RETRY_SECONDS = 10
LOCK_POLL_SECONDS = 0.05
_NAME = re.compile(r"(?P<stem>.+)-(?P<stamp>\d{8}T\d{6}\.\d{3})Z\.db")


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


class BackupList(BaseModel):
    """The backups in the backup directory, newest first."""

    model_config = ConfigDict(frozen=True)

    backups: list[BackupInfo]


def backup_name(stem: str, at: datetime) -> str:
    """The file name of a backup of database `<stem>.db` whose snapshot began `at`."""
    at = at.astimezone(UTC)
    stamp = f"{at.year:04d}{at.month:02d}{at.day:02d}T{at.hour:02d}{at.minute:02d}{at.second:02d}"
    return f"{stem}-{stamp}.{at.microsecond // 1000:03d}Z.db"


def taken_at(stem: str, name: str) -> datetime | None:
    """When the backup `name` of database `<stem>.db` was taken; None if it is not one."""
    match = _NAME.fullmatch(name)
    if match is None or match["stem"] != stem:
        return None
    try:
        return datetime.strptime(match["stamp"], "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
    except ValueError:  # digits in the right places, but not a date
        return None


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


def kept_by_retention(
    times: Iterable[datetime], *, keep_daily: int, keep_weekly: int
) -> set[datetime]:
    """Which backup times retention keeps: the newest backup of each of the `keep_daily`
    most recent days that have one, the newest of each of the `keep_weekly` most recent
    ISO weeks that have one (UTC), and always the newest of all."""
    newest_first = sorted(set(times), reverse=True)
    kept = set(newest_first[:1])

    def newest_per_period(period: Callable[[datetime], Hashable], count: int) -> None:
        periods: set[Hashable] = set()
        for moment in newest_first:
            key = period(moment)
            if key in periods:
                continue
            if len(periods) == count:
                return
            periods.add(key)
            kept.add(moment)

    newest_per_period(lambda moment: moment.date(), keep_daily)
    newest_per_period(lambda moment: moment.isocalendar()[:2], keep_weekly)
    return kept


def apply_retention(backup_dir: Path, stem: str, *, keep_daily: int, keep_weekly: int) -> list[str]:
    """Delete the verified backups (and their manifests) that retention does not keep;
    return their names, oldest first. Call it only right after a new backup was verified.

    Only verified backups (as `list_backups` says) count: a file without a manifest that
    vouches for it, copied in by hand say, neither pushes a verified backup out of its
    day or week nor is ever deleted here.
    """
    backups = {
        backup_dir / info.name: info.taken_at
        for info in list_backups(backup_dir, stem)
        if info.verified
    }
    kept = kept_by_retention(backups.values(), keep_daily=keep_daily, keep_weekly=keep_weekly)
    removed = sorted((at, path) for path, at in backups.items() if at not in kept)
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
