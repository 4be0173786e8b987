"""The storage one unit of work uses: a connection, and the ticket store, audit log and
notification targets on it.

A request opens one with `open_storage`, and so do the tests and benchmarks, so they all
work on storage exactly as the service does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from chalicelib.audit.log import SqliteAuditLog
from chalicelib.destinations.store import require_inside
from chalicelib.notifications.store import SqliteTargetStore
from chalicelib.storage import db
from chalicelib.tickets.store import SqliteTicketStore


class Storage(NamedTuple):
    """One open connection and the stores that work on it (a tuple: made for every
    request, it costs a third of a frozen dataclass)."""

    connection: sqlite3.Connection
    tickets: SqliteTicketStore
    audit_log: SqliteAuditLog
    targets: SqliteTargetStore


@contextmanager
def open_storage(path: Path, *, reading: bool = False) -> Iterator[Storage]:
    """Open the database at `path` for one unit of work (`reading`: one that only reads),
    and always close it.

    Raises `StorageUnavailable` or `StorageCorrupt` for storage faults.
    """
    with db.connect(path, reading=reading) as conn:
        yield Storage(
            conn,
            SqliteTicketStore(conn, require_inside),
            SqliteAuditLog(conn),
            SqliteTargetStore(conn),
        )
