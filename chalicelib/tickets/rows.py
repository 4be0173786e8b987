"""A ticket's rows: how a new ticket is written (its row, its tags, its `ticket_created`
event) and how a stored one is read back."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Collection
from datetime import datetime
from typing import NamedTuple

from pydantic import ValidationError

from chalicelib.audit.events import INSERT_EVENT, AuditEventType, encode_data, record_encoded
from chalicelib.errors import Forbidden, StaleTicket, TicketNotFound
from chalicelib.tickets import events as ticket_events
from chalicelib.tickets.model import (
    CONTENT_FIELDS,
    CreateTicketRequest,
    QueryContext,
    Ticket,
    canonical_ticket_id,
    new_ticket_id,
)
from chalicelib.tickets.states import STATE_CLASSES, Pending, decode_state, encode_state
from chalicelib.tickets.text import STORED
from chalicelib.timestamps import format_timestamp, parse_timestamp, utc_now

# Raises `InvalidInput` unless a path may be written (the destinations' rule), read inside
# the transaction that writes it.
PathCheck = Callable[[sqlite3.Connection, str], None]
# A page's position: the (priority, created_at, id) of the ticket it continues after.
Cursor = tuple[int, str, str]
STATE_TYPE = "json_extract(state, '$.type')"  # must match the index expression exactly


def _ticket_json() -> str:
    # A stored state is {"type": kind, **fields}; on the wire it is its kind alone for a
    # state without fields, else {kind: fields}. Every other field is stored as it is sent.
    bare = ", ".join(f"'{cls.kind}'" for cls in STATE_CLASSES.values() if cls.bare)
    wire_state = (
        f"CASE WHEN {STATE_TYPE} IN ({bare}) THEN json_quote({STATE_TYPE})"
        f" ELSE json_object({STATE_TYPE}, json_remove(state, '$.type')) END"
    )
    fields = {
        "id": "id",
        "created_at": "created_at",
        "created_by": "created_by",
        "state": wire_state,
        "priority": "priority",
        "query_context": "json(query_context)",
        "dest_path": "dest_path",
    }
    # A field added to `Ticket` must be added here too (in the model's order).
    assert tuple(fields) == CONTENT_FIELDS, CONTENT_FIELDS
    return "json_object(" + ", ".join(f"'{name}', {sql}" for name, sql in fields.items()) + ")"


TICKET_COLUMNS = "id, created_at, created_by, state, priority, query_context, dest_path, updated_at"
# A ticket's JSON made by SQLite from its row, byte for byte what `Ticket`'s serializer
# writes for `row_to_ticket(row)` (tests/store/test_wire_json.py holds the two together):
# a page of tickets is answered without a model built and encoded per ticket.
TICKET_JSON = _ticket_json()
_ROW_BY_ID = f"SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?"
_JSON_BY_ID = f"SELECT {TICKET_JSON}, updated_at FROM tickets WHERE id = ?"
# A page's rows: each ticket's JSON (as UTF-8 bytes), its id (the next page's cursor) and
# its version; its other columns are not read at all (`ticket_from_json`).
PAGE_COLUMNS = f"CAST({TICKET_JSON} AS BLOB) AS json, id, updated_at AS version"


INSERT_TICKET = f"INSERT INTO tickets ({TICKET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


@functools.cache
def insert_tags(count: int) -> str:
    """The statement that adds `count` (tag, ticket id) rows to `ticket_tags` in one step,
    each row already there left as it is."""
    return "INSERT OR IGNORE INTO ticket_tags (tag, ticket_id) VALUES " + ", ".join(
        ["(?, ?)"] * count
    )


INSERT_TAG = insert_tags(1)
_NO_TAGS = (INSERT_TICKET, INSERT_EVENT)
_PENDING = encode_state(Pending())


class NewTicket(NamedTuple):
    """A ticket to create, with all its writes need but the time prepared before the
    write lock is taken (`NewTicket.of`): under the lock, the next writer waits for
    every microsecond of Python."""

    id: str
    created_by: str
    request: CreateTicketRequest
    query_context: str  # as stored
    event_data: str  # its `ticket_created` event's data, encoded

    @property
    def statements(self) -> tuple[str, ...]:
        """What `write_ticket` runs for it that changes rows: compiled before the write
        lock (`db.transaction`'s `prepared`)."""
        tags = len(self.request.query_context.tags)
        return (INSERT_TICKET, insert_tags(tags), INSERT_EVENT) if tags else _NO_TAGS

    @classmethod
    def of(cls, request: CreateTicketRequest, *, created_by: str) -> NewTicket:
        ticket_id = new_ticket_id()
        data = ticket_events.created_data(ticket_id, created_by, request)
        stored = json.dumps(data["query_context"], ensure_ascii=False)
        return cls(ticket_id, created_by, request, stored, encode_data(data))

    def at(self, created_at: datetime) -> Ticket:
        """The ticket, created at `created_at` (what `write_ticket` returned)."""
        request = self.request
        return Ticket(
            id=self.id,
            created_at=created_at,
            created_by=self.created_by,
            state=Pending(),
            priority=request.priority,
            query_context=request.query_context,
            dest_path=request.dest_path,
            version=format_timestamp(created_at),
        )


def checked_new_ticket(
    conn: sqlite3.Connection,
    request: CreateTicketRequest,
    created_by: str,
    check_path: PathCheck | None,
) -> NewTicket:
    """`NewTicket.of`, once `check_path` allows its destination. `write_ticket` checks it
    again under the write lock; checked first here too, a refused path never waits for
    the lock, and the check's read is compiled before it."""
    if check_path is not None:
        check_path(conn, request.dest_path)
    return NewTicket.of(request, created_by=created_by)


def write_ticket(
    conn: sqlite3.Connection, new: NewTicket, *, check_path: PathCheck | None = None
) -> datetime:
    """Write a new pending ticket: its row, its tags and its `ticket_created` event (inside
    the caller's transaction), once `check_path` allows its destination; return the time
    it was created, read now (under the write lock: events are stamped in commit order)."""
    request = new.request
    if check_path is not None:
        check_path(conn, request.dest_path)
    now = utc_now()
    stamp = format_timestamp(now)
    conn.execute(
        INSERT_TICKET,
        (
            new.id,
            stamp,
            new.created_by,
            _PENDING,
            request.priority,
            new.query_context,
            request.dest_path,
            stamp,
        ),
    )
    tags = request.query_context.tags
    if tags:
        conn.execute(insert_tags(len(tags)), [value for tag in tags for value in (tag, new.id)])
    record_encoded(
        conn,
        AuditEventType.TICKET_CREATED,
        new.event_data,
        ticket_id=new.id,
        actor=new.created_by,
        at=now,
    )
    return now


def _by_id(conn: sqlite3.Connection, select: str, ticket_id: str) -> sqlite3.Row:
    """The row `select` (by `id = ?`) reads for the ticket with this id; raises
    `TicketNotFound` (also for a malformed id)."""
    canonical = canonical_ticket_id(ticket_id)
    row: sqlite3.Row | None = None
    if canonical is not None:
        row = conn.execute(select, (canonical,)).fetchone()
    if row is None:
        raise TicketNotFound(ticket_id)
    return row


def read_row(conn: sqlite3.Connection, ticket_id: str) -> sqlite3.Row:
    """The row of the ticket with this id; raises `TicketNotFound` (also for a malformed id)."""
    return _by_id(conn, _ROW_BY_ID, ticket_id)


def read_json(conn: sqlite3.Connection, ticket_id: str) -> tuple[str, str]:
    """The JSON (`TICKET_JSON`) and version of the ticket with this id; raises
    `TicketNotFound` (also for a malformed id)."""
    row = _by_id(conn, _JSON_BY_ID, ticket_id)
    return row[0], row[1]


def read_row_to_change(
    conn: sqlite3.Connection,
    ticket_id: str,
    *,
    owner: str | None,
    expected_versions: Collection[str] | None,
) -> sqlite3.Row:
    """The row of a ticket about to change: only if, with `owner`, `owner` created it and
    it still has one of the `expected_versions`. Read inside the caller's write
    transaction (an edit), or before it by a move, whose update then names the version
    read (`move_ticket`).

    Raises `TicketNotFound`, `Forbidden`, `StaleTicket`.
    """
    row = read_row(conn, ticket_id)
    if owner is not None and row["created_by"] != owner:
        raise Forbidden(f"ticket {row['id']!r} was created by someone else")
    if expected_versions is not None and row["updated_at"] not in expected_versions:
        raise StaleTicket(row["id"])
    return row


def row_to_ticket(row: sqlite3.Row) -> Ticket:
    """The ticket a `tickets` row holds."""
    # Rows were validated on the way in. The ticket is validated again (types, the
    # priority's range, an aware time): pydantic does that in Rust, faster than
    # `model_construct` assembles a model in Python.
    return Ticket.model_validate(
        {
            "id": row["id"],
            "created_at": parse_timestamp(row["created_at"]),
            "created_by": row["created_by"],
            "state": decode_state(row["state"]),
            "priority": row["priority"],
            "query_context": _query_context(row["query_context"]),
            "dest_path": row["dest_path"],
            "version": row["updated_at"],
        }
    )


def ticket_from_json(encoded: bytes, version: str | None) -> Ticket:
    """The ticket whose JSON `TICKET_JSON` made, at this version: what `row_to_ticket` gives
    for its row."""
    try:
        ticket = Ticket.model_validate_json(encoded, context=STORED)
    except ValidationError:  # text stored under older, looser rules: as `_query_context`
        data = json.loads(encoded)
        data["query_context"] = _query_context(json.dumps(data["query_context"]))
        ticket = Ticket.model_validate(data, context=STORED)
    return ticket.model_copy(update={"version": version or ""})


def _query_context(stored: str) -> QueryContext:
    # Parsed and validated in Rust (its text checked when it was written: `STORED`), faster
    # than `json.loads` and `model_construct`. A row written under older, looser rules for
    # tags and descriptions still reads back, built unvalidated.
    try:
        return QueryContext.model_validate_json(stored, context=STORED)
    except ValidationError:
        context = json.loads(stored)
        return QueryContext.model_construct(
            tags=context["tags"], description=context["description"]
        )


def read_cursor(conn: sqlite3.Connection, after: str) -> Cursor:
    """The position of the ticket a page continues `after`; raises `TicketNotFound`."""
    try:
        row = read_row(conn, after)
    except TicketNotFound:
        raise TicketNotFound(after, parameter="after") from None
    return row["priority"], row["created_at"], row["id"]
