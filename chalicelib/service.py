"""Service start-up: bring the database's schema up to date and log the start."""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
from pathlib import Path

from chalicelib import __version__, audit, db
from chalicelib.audit import AuditEventType
from chalicelib.ticket import utc_now

SYSTEM_ACTOR = "system"

_lock = threading.Lock()
_started: set[Path] = set()
_anchors: dict[Path, sqlite3.Connection] = {}


def start(path: Path) -> None:
    """Migrate the database and record one `service_started` event."""
    schema = db.migrate(path)
    _hold_anchor(path)
    with db.connect(path) as conn, db.transaction(conn):
        audit.record(
            conn,
            AuditEventType.SERVICE_STARTED,
            {"version": __version__, "schema_version": schema, "pid": os.getpid()},
            actor=SYSTEM_ACTOR,
            at=utc_now(),
        )


def _hold_anchor(path: Path) -> None:
    # Held for the life of the process (see `db.open_anchor`), closed at exit.
    previous = _anchors.pop(path, None)
    if previous is not None:
        previous.close()
    _anchors[path] = db.open_anchor(path)


@atexit.register
def _close_anchors() -> None:
    while _anchors:
        _anchors.popitem()[1].close()


def ensure_started(path: Path) -> None:
    """Run `start` once per process for each database file; later calls are free."""
    if path in _started:
        return
    with _lock:
        if path not in _started:
            start(path)
            _started.add(path)
