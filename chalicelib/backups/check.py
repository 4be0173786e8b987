"""The consistency check: does a database still hold every ticket, whole and explained?

Run it as ``python -m chalicelib.cli check [PATH]`` (or ``make check-db``). It opens the
file read-only (after letting SQLite roll back a crashed writer's hot journal, if a
rollback journal mode left one) and reports, one line each:

* a schema version other than this torrentino's, or a schema that is not exactly what
  its migrations make: every table, index, trigger and view (`chalicelib.storage.schema`). This
  is read first, on a connection that runs nothing from the file, and a file that fails
  it is read no further: its triggers and views never run;
* SQLite's own ``PRAGMA integrity_check`` failures;
* a row or event it cannot decode;
* a ticket without its ``ticket_created`` event, or whose stored fields or state differ
  from what replaying its audit events gives (`chalicelib.tickets.events.replay`): its
  creation, its edits and its moves;
* an event that refers to a ticket that does not exist;
* a ticket that tag search would not find by one of its tags, or would find by a tag it
  does not hold (its ``ticket_tags`` rows, which an edit rewrites);
* an API key without its ``api_key_created`` event, or whose user, role, creation or
  revocation differ from its events, and a key event without its key
  (`chalicelib.keys.history`).

It exits 0 when there is nothing to report and 1 otherwise.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from chalicelib.audit.events import AuditEvent, AuditEventType, row_to_event
from chalicelib.errors import TorrentinoError
from chalicelib.keys.history import key_mismatches
from chalicelib.storage import db, schema
from chalicelib.storage.migrations import MIGRATIONS, schema_version
from chalicelib.tickets.events import TICKET_EVENTS, HistoryError, replay
from chalicelib.tickets.model import CONTENT_FIELDS, QueryContext, Ticket
from chalicelib.tickets.states import decode_state


@dataclass(frozen=True)
class Problem:
    """One inconsistency, and what it concerns (a ticket, an event, the database)."""

    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


@dataclass(frozen=True)
class Report:
    """What the check read and what it found."""

    tickets: int
    events: int
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        """Whether the database passed every check."""
        return not self.problems


def _ticket_from_row(row: sqlite3.Row) -> Ticket:
    return Ticket(
        id=row["id"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        state=decode_state(row["state"]),
        priority=row["priority"],
        query_context=QueryContext.model_validate_json(row["query_context"]),
        dest_path=row["dest_path"],
    )


def _read_tickets(
    conn: sqlite3.Connection, problems: list[Problem]
) -> Iterator[tuple[str, Ticket | None]]:
    """Every ticket row in id order: its id, and the ticket (None when it cannot be read)."""
    for row in conn.execute("SELECT * FROM tickets ORDER BY id"):
        try:
            yield row["id"], _ticket_from_row(row)
        except (KeyError, TypeError, ValueError, ValidationError) as error:
            problems.append(Problem(f"ticket {row['id']}", f"unreadable row: {error}"))
            yield row["id"], None


def _read_events(
    conn: sqlite3.Connection, problems: list[Problem], counted: list[int]
) -> Iterator[tuple[str, list[AuditEvent]]]:
    """Each ticket's events, oldest first, one ticket at a time in ticket id order.

    The scan follows `idx_audit_ticket`, so only one ticket's events are in memory at a
    time; every event is counted in `counted[0]`, ticket event or not.
    """
    rows = conn.execute(
        "SELECT id, event_type, timestamp, ticket_id, data FROM audit_events"
        " ORDER BY ticket_id, timestamp, id"
    )
    group_id: str | None = None
    group: list[AuditEvent] = []
    for row in rows:
        counted[0] += 1
        event = _ticket_event(row, problems)
        if event is None:
            continue
        if row["ticket_id"] != group_id:
            if group_id is not None:
                yield group_id, sorted(group, key=lambda e: e.id)
            group_id, group = row["ticket_id"], []
        group.append(event)
    if group_id is not None:
        yield group_id, sorted(group, key=lambda e: e.id)


def _ticket_event(row: sqlite3.Row, problems: list[Problem]) -> AuditEvent | None:
    """The row as a ticket event, or None (not about a ticket, or a problem noted)."""
    subject = f"event {row['id']}"
    try:
        event = row_to_event(row)
    except (TypeError, ValueError, ValidationError) as error:
        problems.append(Problem(subject, f"unreadable event: {error}"))
        return None
    if event.event_type not in TICKET_EVENTS:
        return None
    ticket_id = event.data.get("ticket_id")
    if not isinstance(ticket_id, str) or row["ticket_id"] != ticket_id:
        problems.append(
            Problem(
                subject,
                f"ticket_id column {row['ticket_id']!r} does not match its data's {ticket_id!r}",
            )
        )
        return None
    return event


def _compare(ticket: Ticket, events: list[AuditEvent]) -> list[Problem]:
    subject = f"ticket {ticket.id}"
    created = [e for e in events if e.event_type is AuditEventType.TICKET_CREATED]
    if not created:
        return [Problem(subject, "has no ticket_created event")]
    if len(created) > 1:
        ids = ", ".join(str(e.id) for e in created)
        return [Problem(subject, f"has {len(created)} ticket_created events ({ids})")]
    try:
        rebuilt = replay(events)
    except HistoryError as error:
        return [Problem(subject, f"its audit events are not a valid history: {error}")]
    problems = []
    for field in CONTENT_FIELDS:
        stored, logged = getattr(ticket, field), getattr(rebuilt, field)
        if stored != logged:
            problems.append(
                Problem(
                    subject,
                    f"stored {field} is {_show(stored)} but its audit events give {_show(logged)}",
                )
            )
    return problems


# Each ticket's tags as tag search reads them (its `ticket_tags` rows), and as the ticket
# holds them (a row whose query context is not JSON is reported as unreadable instead).
_INDEXED_TAGS = "SELECT ticket_id, tag FROM ticket_tags"
_HELD_TAGS = (
    "SELECT tickets.id, json_each.value FROM tickets, json_each("
    "CASE WHEN json_valid(query_context) THEN query_context ELSE '{}' END, '$.tags')"
)


def _check_tag_index(conn: sqlite3.Connection) -> list[Problem]:
    """Tag search must find each ticket by exactly its tags: an edit rewrites those rows."""
    try:
        missing = conn.execute(f"{_HELD_TAGS} EXCEPT {_INDEXED_TAGS} ORDER BY 1, 2").fetchall()
        stray = conn.execute(f"{_INDEXED_TAGS} EXCEPT {_HELD_TAGS} ORDER BY 1, 2").fetchall()
    except sqlite3.DatabaseError as error:  # a damaged page: integrity_check names it too
        return [Problem("database", f"cannot read the tag index: {error}")]
    return [
        Problem(f"ticket {ticket_id}", f"tag search does not find it by its tag {tag!r}")
        for ticket_id, tag in missing
    ] + [
        Problem(f"ticket {ticket_id}", f"tag search finds it by {tag!r}, which it does not hold")
        for ticket_id, tag in stray
    ]


def _show(value: object) -> str:
    return repr(value.model_dump(mode="json") if isinstance(value, BaseModel) else value)


def _check_schema(path: Path) -> list[Problem]:
    """The schema's version and objects, read without running anything from the file."""
    with db.untrusted(path) as conn:
        version = schema_version(conn)
        if version != len(MIGRATIONS):
            return [Problem("database", f"schema version {version}, expected {len(MIGRATIONS)}")]
        found = schema.read(conn)
    return [
        Problem("database", f"schema: {difference}")
        for difference in schema.differences(found, version)
    ]


def _needs_rollback(error: Exception) -> bool:
    """Whether reading failed on a hot journal, which a read-only connection cannot undo."""
    cause = error.__cause__ if isinstance(error, TorrentinoError) else error
    return getattr(cause, "sqlite_errorname", "") == "SQLITE_READONLY_ROLLBACK"


def _roll_back_hot_journal(path: Path) -> None:
    """Undo the half-written transaction a crashed writer left in a rollback journal.

    Only a read-write connection can: reading the file is all it takes, as the next
    request would do. The file is read-only again for the check itself.
    """
    with db.connect(path) as conn:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()


def check_database(path: Path) -> Report:
    """Check one database file; every inconsistency found is in the report's `problems`.

    Tickets and events are read side by side in ticket id order, so memory stays flat
    however large the database is.
    """
    if not path.is_file():
        return Report(0, 0, [Problem("database", f"{path} does not exist or is not a file")])
    try:
        try:
            return _check(path)
        except (sqlite3.Error, TorrentinoError) as error:
            if not _needs_rollback(error):
                raise
            _roll_back_hot_journal(path)
            return _check(path)
    except (sqlite3.Error, TorrentinoError) as error:
        return Report(0, 0, [Problem("database", f"cannot read {path}: {error}")])


def _check(path: Path) -> Report:
    problems = _check_schema(path)
    if problems:  # not our schema: nothing more is read through it
        return Report(0, 0, problems)
    with db.connect(path, read_only=True) as conn:
        problems = [
            Problem("database", f"integrity_check: {row[0]}")
            for row in conn.execute("PRAGMA integrity_check")
            if row[0] != "ok"
        ]
        with db.transaction(conn, write=False):  # one snapshot for tickets, events and keys
            tickets, events = _compare_all(conn, problems)
            problems.extend(_check_tag_index(conn))
            problems.extend(Problem(*mismatch) for mismatch in key_mismatches(conn))
    return Report(tickets, events, problems)


def _compare_all(conn: sqlite3.Connection, problems: list[Problem]) -> tuple[int, int]:
    """Match each ticket with its events (a merge of two scans in id order); return the
    number of readable tickets and of events."""
    counted = [0]
    readable = 0
    groups = _read_events(conn, problems, counted)
    pending = next(groups, None)
    for ticket_id, ticket in _read_tickets(conn, problems):
        while pending is not None and pending[0] < ticket_id:
            problems.extend(_orphans(*pending))
            pending = next(groups, None)
        events: list[AuditEvent] = []
        if pending is not None and pending[0] == ticket_id:
            events = pending[1]
            pending = next(groups, None)
        if ticket is not None:
            readable += 1
            problems.extend(_compare(ticket, events))
    while pending is not None:
        problems.extend(_orphans(*pending))
        pending = next(groups, None)
    return readable, counted[0]


def _orphans(ticket_id: str, events: list[AuditEvent]) -> list[Problem]:
    return [
        Problem(
            f"event {event.id}",
            f"{event.event_type.value} refers to ticket {ticket_id}, which does not exist",
        )
        for event in events
    ]
