"""The consistency check: does a database still hold every ticket, whole and explained?

Run it as ``python -m chalicelib.check [PATH]`` (or ``make check-db``). It opens the
file read-only (after letting SQLite roll back a crashed writer's hot journal, if a
rollback journal mode left one) and reports, one line each:

* SQLite's own ``PRAGMA integrity_check`` failures, and a schema that is not ours;
* a row or event it cannot decode;
* a ticket without its ``ticket_created`` event, or whose stored fields or state differ
  from what replaying its audit events gives (`chalicelib.audit.ticket_events.replay`);
* an event that refers to a ticket that does not exist.

It exits 0 when there is nothing to report and 1 otherwise.
"""

from __future__ import annotations

import sqlite3
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from chalicelib import db, settings
from chalicelib.audit.events import AuditEvent, AuditEventType, row_to_event
from chalicelib.audit.ticket_events import TICKET_EVENTS, HistoryError, replay
from chalicelib.errors import TorrentinoError
from chalicelib.migrations import MIGRATIONS, schema_version
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
) -> tuple[dict[str, Ticket], set[str]]:
    """The readable tickets by id, and the ids of the rows that could not be read."""
    tickets: dict[str, Ticket] = {}
    unreadable: set[str] = set()
    for row in conn.execute("SELECT * FROM tickets ORDER BY id"):
        try:
            tickets[row["id"]] = _ticket_from_row(row)
        except (KeyError, TypeError, ValueError, ValidationError) as error:
            problems.append(Problem(f"ticket {row['id']}", f"unreadable row: {error}"))
            unreadable.add(row["id"])
    return tickets, unreadable


def _read_events(
    conn: sqlite3.Connection, problems: list[Problem]
) -> tuple[int, dict[str, list[AuditEvent]]]:
    """Count every event, and group the ticket events by ticket, oldest first."""
    by_ticket: dict[str, list[AuditEvent]] = defaultdict(list)
    count = 0
    rows = conn.execute(
        "SELECT id, event_type, timestamp, ticket_id, data FROM audit_events ORDER BY id"
    )
    for row in rows:
        count += 1
        subject = f"event {row['id']}"
        try:
            event = row_to_event(row)
        except (TypeError, ValueError, ValidationError) as error:
            problems.append(Problem(subject, f"unreadable event: {error}"))
            continue
        if event.event_type not in TICKET_EVENTS:
            continue
        ticket_id = event.data.get("ticket_id")
        if not isinstance(ticket_id, str) or row["ticket_id"] != ticket_id:
            problems.append(
                Problem(
                    subject,
                    f"ticket_id column {row['ticket_id']!r} does not match its data's "
                    f"{ticket_id!r}",
                )
            )
            continue
        by_ticket[ticket_id].append(event)
    return count, by_ticket


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


def _show(value: object) -> str:
    return repr(value.model_dump(mode="json") if isinstance(value, BaseModel) else value)


_Read = tuple[dict[str, Ticket], set[str], int, dict[str, list[AuditEvent]]]


def _read_database(path: Path) -> tuple[list[Problem], _Read | None]:
    """The schema's problems, and every ticket and event (None without our tables)."""
    with db.connect(path, read_only=True) as conn:
        problems = _check_schema(conn)
        if any(p.message.startswith("missing tables") for p in problems):
            return problems, None
        with db.transaction(conn, write=False):  # one snapshot for tickets and events
            tickets, unreadable = _read_tickets(conn, problems)
            event_count, events = _read_events(conn, problems)
    return problems, (tickets, unreadable, event_count, events)


def _check_schema(conn: sqlite3.Connection) -> list[Problem]:
    problems = [
        Problem("database", f"integrity_check: {row[0]}")
        for row in conn.execute("PRAGMA integrity_check")
        if row[0] != "ok"
    ]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = sorted({"tickets", "audit_events"} - tables)
    if missing:
        problems.append(Problem("database", f"missing tables: {', '.join(missing)}"))
    version = schema_version(conn)
    if version != len(MIGRATIONS):
        problems.append(
            Problem("database", f"schema version {version}, expected {len(MIGRATIONS)}")
        )
    return problems


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
    """Check one database file; every inconsistency found is in the report's `problems`."""
    if not path.is_file():
        return Report(0, 0, [Problem("database", f"{path} does not exist or is not a file")])
    try:
        try:
            problems, read = _read_database(path)
        except (sqlite3.Error, TorrentinoError) as error:
            if not _needs_rollback(error):
                raise
            _roll_back_hot_journal(path)
            problems, read = _read_database(path)
    except (sqlite3.Error, TorrentinoError) as error:
        return Report(0, 0, [Problem("database", f"cannot read {path}: {error}")])
    if read is None:
        return Report(0, 0, problems)
    tickets, unreadable, event_count, events = read
    for ticket in tickets.values():
        problems.extend(_compare(ticket, events.get(ticket.id, [])))
    for ticket_id, orphans in events.items():
        if ticket_id not in tickets and ticket_id not in unreadable:
            problems.extend(
                Problem(
                    f"event {event.id}",
                    f"{event.event_type.value} refers to ticket {ticket_id}, which does not exist",
                )
                for event in orphans
            )
    return Report(len(tickets), event_count, problems)


def main(argv: list[str]) -> int:
    """Check the database named on the command line (or the configured one)."""
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print("usage: python -m chalicelib.check [PATH]", file=sys.stderr)
        return 2
    path = Path(argv[0]) if argv else settings.db_path()
    report = check_database(path)
    for problem in report.problems:
        print(problem)
    if not report.ok:
        print(f"{path}: {len(report.problems)} problem(s) found", file=sys.stderr)
        return 1
    print(f"{path}: ok ({report.tickets} tickets, {report.events} events, integrity ok)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
