"""Service start-up: bring the database's schema up to date and log the start."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, Field

from chalicelib import __version__, settings
from chalicelib.actors import SYSTEM_ACTOR
from chalicelib.audit.events import AuditEventType, record
from chalicelib.backups import upgrade
from chalicelib.errors import StorageUnavailable, UpgradeFailed
from chalicelib.storage import db, lock, migrations
from chalicelib.timestamps import utc_now


class Health(BaseModel):
    """The answer of the liveness route."""

    status: Literal["ok"] = "ok"


class VersionInfo(BaseModel):
    """Which torrentino answers, and the database schema it works on."""

    version: str = Field(
        description="torrentino's version (CHANGELOG.md says what each one brought)."
    )
    schema_version: int = Field(
        description="The database schema version this torrentino needs: it upgrades an older "
        "database to it at start-up, after a backup, and refuses a newer one."
    )


def version_info() -> VersionInfo:
    """This torrentino's version and schema version."""
    return VersionInfo(version=__version__, schema_version=len(migrations.MIGRATIONS))


# After a failed upgrade, a process tries again only this much later: each try takes a
# backup first, and a Lambda container would otherwise take one per request.
UPGRADE_RETRY_SECONDS = 600.0


_lock = threading.Lock()
_started: set[Path] = set()
_held_open: dict[Path, sqlite3.Connection] = {}
_attempted: set[Path] = set()
_in_use: dict[Path, IO[bytes] | None] = {}
_refused: dict[Path, tuple[float, UpgradeFailed]] = {}


def start(path: Path, *, create: bool = True) -> None:
    """Upgrade the database (creating it if allowed: `upgrade.upgrade`) and record one
    `service_started` event."""
    schema = upgrade.upgrade(path, create=create)
    with db.connect(path) as conn:
        # Refresh the planner's statistics where they are stale (cheap when they are not).
        conn.execute("PRAGMA optimize")
    with db.connect(path) as conn, db.transaction(conn):
        record(
            conn,
            AuditEventType.SERVICE_STARTED,
            {"version": __version__, "schema_version": schema, "pid": os.getpid()},
            actor=SYSTEM_ACTOR,
            at=utc_now(),
        )
    with contextlib.suppress(OSError):  # stderr may be on a full disk
        print(f"torrentino {__version__} started on {path} (schema {schema})", file=sys.stderr)


def ensure_started(path: Path) -> None:
    """Run `start` once per process for each database file; later calls are free.

    If the database cannot be written (read-only, full, locked) but already has the
    current schema, the request goes ahead, so reads are served, and the next request
    tries to start again. Only the first attempt may create the file: one that vanishes
    later is not replaced by an empty database. Raises `StorageUnavailable` or
    `StorageCorrupt` otherwise, and `StorageUnavailable` while a backup is being
    restored into the file. An upgrade that failed (`UpgradeFailed`) is not tried again
    for `UPGRADE_RETRY_SECONDS`: the same error is raised meanwhile.
    """
    if path in _started:
        return
    with _lock:
        if path in _started:
            return
        first_attempt = path not in _attempted
        if path not in _in_use:  # held for the process's life: a restore refuses meanwhile
            _in_use[path] = lock.hold_in_use(path, create_dir=first_attempt)
        _attempted.add(path)
        refused = _refused.get(path)
        if refused is not None and time.monotonic() < refused[0]:
            raise refused[1]
        try:
            start(path, create=first_attempt)
        except UpgradeFailed as error:
            _refused[path] = (time.monotonic() + UPGRADE_RETRY_SECONDS, error)
            raise
        except StorageUnavailable:
            if not _schema_is_current(path):
                raise
            return
        if not settings.is_rollback(settings.journal_mode()):
            _held_open[path] = db.hold_open(path)  # see db.hold_open: reads on a full disk
        _started.add(path)


def stop(path: Path) -> None:
    """Close the idle connection `ensure_started` keeps, release the database's in-use
    lock, and forget that it started."""
    with _lock:
        _started.discard(path)
        _attempted.discard(path)
        _refused.pop(path, None)
        held = _held_open.pop(path, None)
        in_use = _in_use.pop(path, None)
    if held is not None:
        held.close()
    if in_use is not None:
        in_use.close()


def _schema_is_current(path: Path) -> bool:
    with db.connect(path) as conn:
        return migrations.schema_version(conn) == len(migrations.MIGRATIONS)
