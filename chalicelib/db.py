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
from urllib.request import pathname2url

from chalicelib import settings
from chalicelib.errors import StorageCorrupt, StorageUnavailable

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
    # The log is read oldest first (timestamp, id), whole or by type or ticket.
    conn.execute("CREATE INDEX idx_audit_time ON audit_events(timestamp, id)")
    conn.execute("CREATE INDEX idx_audit_event_type ON audit_events(event_type, timestamp, id)")
    conn.execute("CREATE INDEX idx_audit_ticket ON audit_events(ticket_id, timestamp, id)")


def _m003_api_keys(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,                -- public key id, part of the key itself
            user TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
            secret_hash TEXT NOT NULL,          -- SHA-256 of the whole key; never the key
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )
        """
    )


def _m004_creator_queue_index(conn: sqlite3.Connection) -> None:
    # Listing one creator's tickets in queue order, with no sort step.
    conn.execute(
        "CREATE INDEX idx_tickets_creator_queue"
        " ON tickets(created_by, priority DESC, created_at, id)"
    )


def _m005_filters(conn: sqlite3.Connection) -> None:
    # Tags get a table of their own so "tickets having every given tag" is an index lookup.
    conn.execute(
        """
        CREATE TABLE ticket_tags (
            tag TEXT NOT NULL,
            ticket_id TEXT NOT NULL REFERENCES tickets(id),
            PRIMARY KEY (tag, ticket_id)
        ) WITHOUT ROWID
        """
    )
    conn.execute(
        "INSERT OR IGNORE INTO ticket_tags (tag, ticket_id)"
        " SELECT DISTINCT json_each.value, tickets.id"
        " FROM tickets, json_each(tickets.query_context, '$.tags')"
    )
    # Newest-first listing and created_after/created_before ranges, with and without a state.
    conn.execute("CREATE INDEX idx_tickets_created ON tickets(created_at, id)")
    conn.execute(
        "CREATE INDEX idx_tickets_state_created ON tickets("
        "json_extract(state, '$.type'), created_at, id)"
    )


def _m006_idempotency_keys(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE idempotency_keys (
            owner TEXT NOT NULL,                -- who sent it: keys are per caller
            key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,          -- SHA-256 of the validated request
            ticket_id TEXT NOT NULL,
            response TEXT NOT NULL,             -- the ticket as first returned
            version TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (owner, key)
        )
        """
    )
    conn.execute("CREATE INDEX idx_idempotency_created ON idempotency_keys(created_at)")


def _m007_ticket_counts(conn: sqlite3.Connection) -> None:
    # A list's `total` counted index entries, so it grew with the table (~100k entries
    # for the pending tickets of a 1M-ticket queue). Triggers keep one row per state in
    # the same transaction as the change, so a total by state is one lookup at any size.
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


def _m008_audit_counts(conn: sqlite3.Connection) -> None:
    # The same for the audit log, which only grows: a total by event type is one lookup.
    conn.execute(
        "CREATE TABLE audit_counts (event_type TEXT PRIMARY KEY, events INTEGER NOT NULL)"
        " WITHOUT ROWID"
    )
    conn.execute(
        "INSERT INTO audit_counts (event_type, events)"
        " SELECT event_type, count(*) FROM audit_events GROUP BY 1"
    )
    conn.execute(
        "CREATE TRIGGER audit_counts_insert AFTER INSERT ON audit_events BEGIN"
        " INSERT INTO audit_counts (event_type, events) VALUES (NEW.event_type, 1)"
        " ON CONFLICT (event_type) DO UPDATE SET events = events + 1; END"
    )
    conn.execute(
        "CREATE TRIGGER audit_counts_delete AFTER DELETE ON audit_events BEGIN"
        " UPDATE audit_counts SET events = events - 1 WHERE event_type = OLD.event_type; END"
    )


# Shipped steps are never edited: add a new one at the end instead.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _m001_tickets,
    _m002_audit_events,
    _m003_api_keys,
    _m004_creator_queue_index,
    _m005_filters,
    _m006_idempotency_keys,
    _m007_ticket_counts,
    _m008_audit_counts,
)


def _open(path: Path, *, create: bool) -> sqlite3.Connection:
    # Only a migration may create the file: a request finding it gone must not quietly
    # start an empty database (say, in the mount point of an unmounted disk).
    uri = f"file:{pathname2url(str(path))}?mode={'rwc' if create else 'rw'}"
    timeout_ms = settings.busy_timeout_ms()
    conn = sqlite3.connect(
        uri, uri=True, timeout=timeout_ms / 1000, isolation_level=None, check_same_thread=True
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    # FULL: a commit is on disk before we acknowledge it, even across a power cut.
    conn.execute("PRAGMA synchronous = FULL")
    # The WAL outlives requests (see `hold_open`): cap what it keeps after a reset.
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
    return conn


def hold_open(path: Path) -> sqlite3.Connection:
    """An idle connection to keep for the life of the process; never use it for queries.

    When the last connection to a WAL database closes, SQLite checkpoints the whole WAL
    into the database file (an fsync under `synchronous = FULL`) and deletes the -wal
    and -shm files; the next connection recreates both and rebuilds the WAL index. With
    a connection per request, a request on a quiet server is always that last
    connection, so every request paid for setting the WAL up and tearing it down
    (several times the cost of the write itself), and on a full disk the files cannot be
    recreated, so even a read fails.

    This connection holds no transaction and no lock but SQLite's "someone is here", so
    it never blocks a writer or a checkpoint, and it is never handed to a request (each
    still opens and closes its own). Durability is unchanged: every commit still fsyncs
    the WAL before it returns, and checkpoints run as usual when the WAL reaches 1000
    pages. (Rejected: SQLITE_FCNTL_PERSIST_WAL keeps the file but still checkpoints on
    every close; SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE skips the checkpoint, but the next
    connection must then rebuild the WAL index by reading the whole WAL.)
    """
    conn = sqlite3.connect(
        f"file:{pathname2url(str(path))}?mode=rw", uri=True, check_same_thread=False
    )
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the WAL now
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
def connect(path: Path, *, create: bool = False) -> Iterator[sqlite3.Connection]:
    """Open a configured connection for one unit of work, and always close it.

    The file must exist unless `create` is true. Raises `StorageUnavailable` or
    `StorageCorrupt` for storage faults.
    """
    try:
        with closing(_open(path, create=create)) as conn:
            yield conn
    except sqlite3.Error as error:
        if not create and not path.exists():
            raise StorageUnavailable(
                "the database file is missing; restore it, or restart torrentino to begin "
                "a new, empty one"
            ) from error
        translated = translate_error(error)
        if translated is error:
            raise
        raise translated from error


# Writers in this process queue here, woken in turn, rather than in SQLite's busy
# handler, which polls with sleeps of up to 100 ms and lets an unlucky writer starve.
_writer = threading.RLock()


@contextmanager
def transaction(conn: sqlite3.Connection, *, write: bool = True) -> Iterator[None]:
    """Run the block in one transaction: committed if it returns, rolled back if it raises.

    A write transaction takes the write lock up front (`BEGIN IMMEDIATE`), so a
    read-check-write sequence inside it cannot be based on a stale read. Writers in
    this process first take turns on `_writer`, waiting at most the busy timeout;
    raises `StorageUnavailable` (busy) after that.
    """
    if not write:
        with _run_in_transaction(conn, "BEGIN"):
            yield
        return
    if not _writer.acquire(timeout=settings.busy_timeout_ms() / 1000):
        raise StorageUnavailable(
            "the database is busy; retry shortly", retry_after=RETRY_AFTER_SECONDS
        )
    try:
        with _run_in_transaction(conn, "BEGIN IMMEDIATE"):
            yield
    finally:
        _writer.release()


@contextmanager
def _run_in_transaction(conn: sqlite3.Connection, begin: str) -> Iterator[None]:
    conn.execute(begin)
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    conn.commit()


def schema_version(conn: sqlite3.Connection) -> int:
    """How many migration steps the database has applied."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def migrate(path: Path, *, create: bool = True) -> int:
    """Create the file if needed (and allowed) and apply pending migrations; return the version.

    Each step commits together with its `user_version` bump. `BEGIN IMMEDIATE`
    serialises two processes starting at once: the second sees the first's work.
    """
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    with connect(path, create=create) as conn:
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
