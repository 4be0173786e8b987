"""Why requests do not use SQLite's shared-cache mode, shown on this SQLite build.

Shared cache would cut a new connection's cost (the phase table in the benchmarks), but
it changes two things the service relies on; each test shows the shared-cache
behaviour next to what a request's own connection (`db.connect`) does instead.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.request import pathname2url

import pytest

from chalicelib.errors import StorageUnavailable
from chalicelib.storage import db
from chalicelib.tickets.model import CreateTicketRequest
from tests.helpers import example_ticket, with_storage


def shared(path: Path) -> sqlite3.Connection:
    uri = f"file:{pathname2url(str(path))}?mode=rw&cache=shared"
    return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=5)


def test_a_shared_cache_read_fails_at_once_while_another_connection_writes(
    db_path: Path,
) -> None:
    writer, reader = shared(db_path), shared(db_path)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO ticket_counts (state, tickets) VALUES ('x', 1)")
        with pytest.raises(sqlite3.OperationalError, match="table is locked"):
            reader.execute("SELECT count(*) FROM ticket_counts").fetchone()
        writer.execute("ROLLBACK")
    finally:
        writer.close()
        reader.close()
    # A request's own connection reads the last committed state while a write is open.
    with db.connect(db_path) as writing, db.connect(db_path) as reading:
        writing.execute("BEGIN IMMEDIATE")
        writing.execute("INSERT INTO ticket_counts (state, tickets) VALUES ('x', 1)")
        assert reading.execute("SELECT count(*) FROM ticket_counts").fetchone()[0] == 0
        writing.execute("ROLLBACK")


def test_a_shared_cache_keeps_writing_to_a_deleted_database_file(db_path: Path) -> None:
    anchor = shared(db_path)
    anchor.execute("SELECT count(*) FROM tickets").fetchone()  # the cache is now open
    service_anchor = db.hold_open(db_path)  # what the service keeps open
    db_path.unlink()
    try:
        late = shared(db_path)
        late.execute("INSERT INTO ticket_counts (state, tickets) VALUES ('x', 1)")
        assert late.execute("SELECT tickets FROM ticket_counts WHERE state = 'x'").fetchone()
        late.close()  # acknowledged, and in a file nobody can open again
        # A request's own connection finds the file gone and refuses.
        with pytest.raises(StorageUnavailable, match="missing"):
            request = CreateTicketRequest.model_validate(example_ticket())
            with_storage(db_path, lambda s: s.tickets.create(request, created_by="anonymous"))
    finally:
        anchor.close()
        service_anchor.close()
    assert not db_path.exists()
