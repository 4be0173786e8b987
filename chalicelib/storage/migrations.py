"""The schema's forward-only migrations: an ordered list of small steps, each applied in one
transaction together with the `PRAGMA user_version` that counts them."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from chalicelib import settings
from chalicelib.errors import StorageCorrupt
from chalicelib.storage import db, private

Step = Callable[[sqlite3.Connection], None]
# Every step, in the order they are written below: `@migration` appends each one, so
# writing a step is registering it (as simonw/llm's migrations do). Never edit or reorder a
# step that has shipped; the count of steps is the schema version they bring a file to.
MIGRATIONS: list[Step] = []


def migration(step: Step) -> Step:
    """Register `step` as the next migration."""
    MIGRATIONS.append(step)
    return step


@migration
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


@migration
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


@migration
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


@migration
def _m004_creator_queue_index(conn: sqlite3.Connection) -> None:
    # Listing one creator's tickets in queue order, with no sort step.
    conn.execute(
        "CREATE INDEX idx_tickets_creator_queue"
        " ON tickets(created_by, priority DESC, created_at, id)"
    )


@migration
def _m005_ticket_tags_and_created_indexes(conn: sqlite3.Connection) -> None:
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


@migration
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


@migration
def _m007_ticket_counts(conn: sqlite3.Connection) -> None:
    # One row per state, kept by triggers in the same transaction as the change, so a
    # total by state is one lookup at any table size (counting index entries grows with it).
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


@migration
def _m008_audit_counts(conn: sqlite3.Connection) -> None:
    # One row per event type, kept by a trigger: a total by type is one lookup however
    # long the log grows.
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


@migration
def _m009_drop_prefix_indexes(conn: sqlite3.Connection) -> None:
    # Each is a leading prefix of a queue index (idx_tickets_state_queue, idx_tickets_queue,
    # idx_tickets_creator_queue) that serves every query it did (tests/store/
    # test_query_plans.py), and each cost a page written per create or cancel: on a
    # network filesystem, a network write.
    conn.execute("DROP INDEX IF EXISTS idx_tickets_state")
    conn.execute("DROP INDEX IF EXISTS idx_tickets_priority")
    conn.execute("DROP INDEX IF EXISTS idx_tickets_created_by")


@migration
def _m010_destinations(conn: sqlite3.Connection) -> None:
    # Where tickets may go, while any is defined (chalicelib/destinations/).
    conn.execute(
        """
        CREATE TABLE destinations (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            root TEXT NOT NULL UNIQUE,          -- normalised: no trailing slash, no '.'
            tags TEXT NOT NULL,                 -- JSON array of default tags
            created_at TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE UNIQUE INDEX idx_destinations_name ON destinations(name COLLATE NOCASE)")


@migration
def _m011_notifications(conn: sqlite3.Connection) -> None:
    # Targets read the audit log after their own cursor, so nothing is written for them
    # when an event is recorded: the delivery writes as it goes (docs/notifications.md).
    # A target: its URL with its secrets (never shown: `masked_url` is), a webhook's
    # signing secret, its events (a JSON list, [] for every one), scope (an admin's 'all',
    # a user's 'own_tickets'), `cursor` (the last audit event dealt with), failures and
    # events given up in a row, when it was paused, and the lease of the run delivering
    # to it. (The comments are here, not in the SQL, which SQLite keeps in every file.)
    # IF NOT EXISTS, as step 9's IF EXISTS: a file that has them already is left as it is.
    conn.execute(
        "CREATE TABLE IF NOT EXISTS notification_targets (id TEXT PRIMARY KEY, owner TEXT NOT NULL,"
        " scope TEXT NOT NULL CHECK (scope IN ('all', 'own_tickets')),"
        " kind TEXT NOT NULL CHECK (kind IN ('apprise', 'webhook')),"
        " url TEXT NOT NULL, masked_url TEXT NOT NULL, service TEXT NOT NULL, secret TEXT,"
        " events TEXT NOT NULL, created_at TEXT NOT NULL, cursor INTEGER NOT NULL,"
        " paused_at TEXT, paused_reason TEXT, failures INTEGER NOT NULL DEFAULT 0,"
        " give_ups INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT, last_error TEXT,"
        " last_delivered_at TEXT, lease_owner TEXT, lease_until TEXT) WITHOUT ROWID"
    )
    # A delivery: one per event sent to a target (event_id NULL for a test), with the
    # webhook-id it is sent with every time. One b-tree per table and the index, nothing
    # more: a target has at most 100 rows here, sorted by id when read.
    conn.execute(
        "CREATE TABLE IF NOT EXISTS notification_deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " target_id TEXT NOT NULL REFERENCES notification_targets(id) ON DELETE CASCADE,"
        " event_id INTEGER, message_id TEXT NOT NULL, status TEXT NOT NULL"
        " CHECK (status IN ('delivered', 'retrying', 'given_up', 'failed')),"
        " attempts INTEGER NOT NULL, first_attempt_at TEXT NOT NULL,"
        " last_attempt_at TEXT NOT NULL, response_status INTEGER, last_error TEXT)"
    )
    conn.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_notification_deliveries_event"
        " ON notification_deliveries(target_id, event_id)"
    )


# Shipped steps are never edited: add a new one at the end instead.


def schema_version(conn: sqlite3.Connection) -> int:
    """How many migration steps the database has applied."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def migrate(
    path: Path,
    *,
    create: bool = True,
    to: int | None = None,
    on_step: Callable[[int, str, float], None] | None = None,
) -> int:
    """Create the file if needed (and allowed) and apply pending migrations; return the version.

    Every pending step runs in one transaction, each with its `user_version` bump, so a
    step that fails leaves the file at the version it had. `on_step` is told each step's
    number, name and seconds as it runs. `BEGIN IMMEDIATE` serialises two processes
    starting at once: the second sees the first's work. `to` stops after that many steps
    (what torrentino at that version made: `chalicelib.storage.schema`).
    """
    if create:
        private.make_folder(path.parent)
    with db.connect(path, create=create) as conn:
        # WAL is a property of the file: set here, kept by every later connection. A
        # rollback mode (for a network filesystem) takes the file out of WAL, if it was.
        db.set_journal_mode(conn, settings.journal_mode())
        with db.transaction(conn):
            version = schema_version(conn)
            if version > len(MIGRATIONS):
                raise StorageCorrupt(
                    f"database schema version {version} is newer than this torrentino "
                    f"({len(MIGRATIONS)}); upgrade torrentino"
                )
            for number, step in enumerate(MIGRATIONS[version:to], start=version + 1):
                started = time.monotonic()
                step(conn)
                conn.execute(f"PRAGMA user_version = {number}")
                if on_step is not None:
                    on_step(number, step_name(step), time.monotonic() - started)
            return schema_version(conn)


def step_name(step: Callable[[sqlite3.Connection], None]) -> str:
    """A step's name without its number: `_m009_drop_prefix_indexes` is `drop_prefix_indexes`."""
    return step.__name__.lstrip("_").split("_", 1)[1]
