"""SQLite connections and the schema's forward-only migrations.

A connection lives for one request: `connect()` opens and configures it, and always
closes it. Transactions are explicit (`BEGIN IMMEDIATE` for writes), so a change and
its audit event commit together or not at all.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from chalicelib.errors import StorageCorrupt, StorageUnavailable

BUSY_TIMEOUT_MS = 5_000
# A little above the 1000-page auto-checkpoint, so the WAL is not regrown after each reset.
WAL_SIZE_LIMIT_BYTES = 8 * 1024 * 1024
RETRY_AFTER_SECONDS = 1


def _m001_tickets(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE tickets (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,           -- RFC 3339 UTC
            created_by TEXT NOT NULL,
            state TEXT NOT NULL,                -- JSON-encoded TicketState, with "type"
            priority INTEGER NOT NULL DEFAULT 0,
            query_context TEXT NOT NULL,        -- JSON-encoded QueryContext
            dest_path TEXT NOT NULL,
            updated_at TEXT NOT NULL            -- RFC 3339 UTC, for optimistic locking
        )
        """
    )
    conn.execute("CREATE INDEX idx_tickets_state ON tickets(json_extract(state, '$.type'))")
    conn.execute("CREATE INDEX idx_tickets_created_by ON tickets(created_by)")
    conn.execute("CREATE INDEX idx_tickets_priority ON tickets(priority DESC)")
    # Queue order (priority high first, oldest first, id) with and without a state
    # filter, so every page is read in index order with no sort step.
    conn.execute("CREATE INDEX idx_tickets_queue ON tickets(priority DESC, created_at, id)")
    conn.execute(
        "CREATE INDEX idx_tickets_state_queue ON tickets("
        "json_extract(state, '$.type'), priority DESC, created_at, id)"
    )


def _m002_audit_events(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE audit_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_type TEXT NOT NULL,
            timestamp TEXT NOT NULL,            -- RFC 3339 UTC
            ticket_id TEXT,                     -- copied out of data, for filtering
            actor TEXT NOT NULL,
            data TEXT NOT NULL                  -- JSON object
        )
        """
    )
    conn.execute("CREATE INDEX idx_audit_event_type ON audit_events(event_type, id)")
    conn.execute("CREATE INDEX idx_audit_ticket ON audit_events(ticket_id, id)")


def _m003_ticket_counts(conn: sqlite3.Connection) -> None:
    # A list's `total` counted index entries, so it grew with the table (~100k entries
    # for the pending tickets of a 1M-ticket queue). Triggers keep one row per state in
    # the same transaction as the change, so a total is one lookup at any size.
    conn.execute(
        "CREATE TABLE ticket_counts (state TEXT PRIMARY KEY, tickets INTEGER NOT NULL)"
        " WITHOUT ROWID"
    )
    conn.execute(
        "INSERT INTO ticket_counts (state, tickets)"
        " SELECT json_extract(state, '$.type'), count(*) FROM tickets GROUP BY 1"
    )
    add_new = (
        "INSERT INTO ticket_counts (state, tickets) VALUES (json_extract(NEW.state, '$.type'), 1)"
        " ON CONFLICT (state) DO UPDATE SET tickets = tickets + 1;"
    )
    remove_old = (
        "UPDATE ticket_counts SET tickets = tickets - 1"
        " WHERE state = json_extract(OLD.state, '$.type');"
    )
    conn.execute(f"CREATE TRIGGER ticket_counts_insert AFTER INSERT ON tickets BEGIN {add_new} END")
    conn.execute(
        "CREATE TRIGGER ticket_counts_update AFTER UPDATE OF state ON tickets"
        " WHEN json_extract(OLD.state, '$.type') IS NOT json_extract(NEW.state, '$.type')"
        f" BEGIN {remove_old} {add_new} END"
    )
    conn.execute(
        f"CREATE TRIGGER ticket_counts_delete AFTER DELETE ON tickets BEGIN {remove_old} END"
    )


# Shipped steps are never edited: add a new one at the end instead.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _m001_tickets,
    _m002_audit_events,
    _m003_ticket_counts,
)


class _Connection(sqlite3.Connection):
    """A connection that knows its file's in-process writer lock."""

    write_lock: threading.Lock


_write_locks: dict[Path, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def _write_lock(path: Path) -> threading.Lock:
    with _write_locks_guard:
        return _write_locks.setdefault(path, threading.Lock())


def _open(path: Path) -> sqlite3.Connection:
    # `timeout` is SQLite's busy timeout: no separate PRAGMA needed.
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=True,
        factory=_Connection,
    )
    conn.write_lock = _write_lock(path)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    # FULL: a commit is on disk before we acknowledge it, even across a power cut.
    conn.execute("PRAGMA synchronous = FULL")
    # The WAL file outlives requests (see `open_anchor`): cap what it keeps after a reset.
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
    return conn


def open_anchor(path: Path) -> sqlite3.Connection:
    """Open the idle connection that keeps the WAL set up while the service runs.

    When the last connection to a WAL database closes, SQLite checkpoints the whole
    WAL into the database file (an fsync under `synchronous = FULL`) and deletes the
    -wal and -shm files; the next connection recreates both (a file creation and a
    directory fsync) and rebuilds the WAL index. With a connection per request, a
    request on a quiet server is always that last connection, so every request paid
    for setting the WAL up and tearing it down: several times the cost of the write.

    The anchor is opened once per process and file, reads the schema once to attach to
    the WAL index, and then does nothing: no query, no transaction, so it never blocks
    a writer or a checkpoint, and it is never handed to a request (each request still
    opens and closes its own connection). It only means a request's connection is never
    the last one. Durability is unchanged: every commit still fsyncs the WAL before it
    returns; checkpoints run as usual when the WAL reaches 1000 pages, and at exit when
    the anchor closes. (Rejected: SQLITE_FCNTL_PERSIST_WAL keeps the file but still
    checkpoints on every close; SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE skips the checkpoint
    but the next connection must then recover the WAL index by reading the whole WAL.)
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def translate_error(error: sqlite3.Error) -> Exception:
    """Turn an sqlite3 error into the domain error a caller can act on."""
    message = str(error).lower()
    if "locked" in message or "busy" in message:
        return StorageUnavailable(
            "the database is busy; retry shortly", retry_after=RETRY_AFTER_SECONDS
        )
    if "readonly" in message or "read-only" in message:
        return StorageUnavailable("the database is read-only", retry_after=None)
    if "full" in message or "disk i/o" in message or "unable to open" in message:
        return StorageUnavailable(f"the database cannot be written: {error}")
    if "not a database" in message or "malformed" in message or "no such table" in message:
        return StorageCorrupt(f"the database is damaged or not torrentino's: {error}")
    return error


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """Open a configured connection for one unit of work, and always close it.

    Raises `StorageUnavailable` or `StorageCorrupt` for storage faults.
    """
    try:
        with closing(_open(path)) as conn:
            yield conn
    except sqlite3.Error as error:
        translated = translate_error(error)
        if translated is error:
            raise
        raise translated from error


@contextmanager
def transaction(conn: sqlite3.Connection, *, write: bool = True) -> Iterator[None]:
    """Run the block in one transaction: committed if it returns, rolled back if it raises.

    A write transaction takes the write lock up front (`BEGIN IMMEDIATE`), so a
    read-check-write sequence inside it cannot be based on a stale read.

    Writers of this process first queue on an in-process lock: SQLite's busy handler
    waits by sleeping in growing steps (up to 100 ms each), so threads contending for
    the write lock took turns in sleeps, not in order; with 16 concurrent writers one
    in a hundred writes waited about a second. Another process's writer is still
    waited for by the busy handler. Raises `StorageUnavailable` if the wait is too long.
    """
    lock: threading.Lock | None = getattr(conn, "write_lock", None) if write else None
    if lock is not None and not lock.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
        raise StorageUnavailable(
            "the database is busy; retry shortly", retry_after=RETRY_AFTER_SECONDS
        )
    try:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        conn.commit()
    finally:
        if lock is not None:
            lock.release()


def schema_version(conn: sqlite3.Connection) -> int:
    """How many migration steps the database has applied."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def migrate(path: Path) -> int:
    """Create the file if needed and apply pending migrations; return the new version.

    Each step commits together with its `user_version` bump. `BEGIN IMMEDIATE`
    serialises two processes starting at once: the second sees the first's work.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with connect(path) as conn:
        # WAL is a property of the file: set once here, kept by every later connection.
        conn.execute("PRAGMA journal_mode = WAL")
        with transaction(conn):
            version = schema_version(conn)
            if version > len(MIGRATIONS):
                raise StorageCorrupt(
                    f"database schema version {version} is newer than this torrentino "
                    f"({len(MIGRATIONS)}); upgrade torrentino"
                )
            for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
                step(conn)
                conn.execute(f"PRAGMA user_version = {number}")
            return schema_version(conn)
