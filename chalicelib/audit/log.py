"""Reading the audit log: the filter a caller gives, the SQL that serves it from the
indexes, the page it gives back, and a ticket's history."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from chalicelib.audit.events import (
    EVENT_JSON,
    PAGE_COLUMNS,
    AuditEvent,
    AuditEventType,
    event_from_json,
    fix_item_json,
)
from chalicelib.paging import MAX_QUERY_INTEGER, Page, PageItems, PageQuery, one_or_many, read_page
from chalicelib.storage import db
from chalicelib.timestamps import QueryTimestamp, format_timestamp

AuditSort = Literal["oldest", "newest"]
# The id breaks ties between events of the same microsecond. Both orders are one index
# scan, forwards or backwards: the newest events cost no more to reach than the oldest.
_ORDER_BY = {"oldest": "timestamp, id", "newest": "timestamp DESC, id DESC"}


class AuditFilter(BaseModel):
    """Which audit events to list or count, and which page: one of the `event_type`s,
    about `ticket_id`, with `since <= timestamp < until`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: (
        Annotated[list[AuditEventType], BeforeValidator(one_or_many), Field(max_length=16)] | None
    ) = None
    ticket_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    since: QueryTimestamp | None = None
    until: QueryTimestamp | None = None
    sort: AuditSort = Field(
        default="oldest",
        description="`oldest` first (the log's order) or `newest` first.",
    )
    limit: Annotated[int, Field(ge=1, le=1000)] = 50
    offset: Annotated[int, Field(ge=0, le=MAX_QUERY_INTEGER)] = 0
    after: int | None = Field(
        default=None,
        ge=0,
        le=MAX_QUERY_INTEGER,
        description=(
            "Start right after this event in the page's order (the `next` links use it): "
            "fast at any depth. An id that names no event starts at the next one that "
            "exists. With `offset`, skip that many more."
        ),
    )


class AuditPage(Page):
    """One page of audit events plus the total that matches the filter."""

    model_config = ConfigDict(frozen=True)
    ITEMS: ClassVar[str] = "events"

    events: list[AuditEvent]
    total: int
    limit: int
    offset: int
    next: str | None = None  # the URL of the next page, set by the API layer
    # The event id to continue after (`after=`) when there are more events; not in the JSON.
    next_after: Annotated[int | None, Field(exclude=True)] = None

    ITEM_OF: ClassVar[Callable[[bytes, str | None], AuditEvent]] = staticmethod(
        lambda encoded, _version: event_from_json(encoded)  # events have no version
    )


# A page's position: the (timestamp, id) it continues after.
Cursor = tuple[str, int]


def _where(audit_filter: AuditFilter, visible_to: str | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if visible_to is not None:
        clauses.append("ticket_id IN (SELECT id FROM tickets WHERE created_by = ?)")
        params.append(visible_to)
    if audit_filter.event_type:
        types = sorted({t.value for t in audit_filter.event_type})
        clauses.append(f"event_type IN ({', '.join('?' * len(types))})")
        params.extend(types)
    if audit_filter.ticket_id is not None:
        clauses.append("ticket_id = ?")
        params.append(audit_filter.ticket_id)
    if audit_filter.since is not None:
        clauses.append("timestamp >= ?")
        params.append(format_timestamp(audit_filter.since))
    if audit_filter.until is not None:
        clauses.append("timestamp < ?")
        params.append(format_timestamp(audit_filter.until))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def list_query(
    audit_filter: AuditFilter, visible_to: str | None = None, cursor: Cursor | None = None
) -> tuple[str, list[Any]]:
    """The SQL and parameters that list a page of events (also used to show query plans).

    With a `cursor` the page starts right after it, in the filter's order, with an index
    seek however deep it is.
    """
    where, params = _where(audit_filter, visible_to)
    if cursor is not None:
        where = f"{where} AND " if where else " WHERE "
        where += f"(timestamp, id) {'<' if audit_filter.sort == 'newest' else '>'} (?, ?)"
        params = [*params, *cursor]
    order = _ORDER_BY[audit_filter.sort]
    sql = f"SELECT {PAGE_COLUMNS} FROM audit_events{where} ORDER BY {order}"
    return f"{sql} LIMIT ? OFFSET ?", [*params, audit_filter.limit, audit_filter.offset]


def count_query(audit_filter: AuditFilter, visible_to: str | None = None) -> tuple[str, list[Any]]:
    """The SQL and parameters that count every event the filter matches, whatever the page.

    Filtered by event type at most, the count is one lookup per type in `audit_counts`,
    which a trigger keeps in step with the log, so it costs the same however long it grows.
    """
    narrowed = audit_filter.model_dump(
        exclude={"event_type", "sort", "limit", "offset", "after"}, exclude_defaults=True
    )
    if visible_to is None and not narrowed:
        types = sorted({t.value for t in audit_filter.event_type or ()})
        where = f" WHERE event_type IN ({', '.join('?' * len(types))})" if types else ""
        return f"SELECT coalesce(sum(events), 0) FROM audit_counts{where}", types
    where, params = _where(audit_filter, visible_to)
    return f"SELECT count(*) FROM audit_events{where}", params


def _cursor(conn: sqlite3.Connection, after: int, sort: AuditSort) -> Cursor | None:
    # The position of the first event at or beyond `after` in the page's order (at or
    # above it oldest first, at or below it newest first), so an id that names no event
    # is a cursor too; None when no event is that far on. Timestamps follow ids (both in
    # commit order), so the events before the cursor are exactly those up to `after`.
    newest = sort == "newest"
    found = conn.execute(
        f"SELECT timestamp FROM audit_events WHERE id {'<=' if newest else '>='} ?"
        f" ORDER BY id{' DESC' if newest else ''} LIMIT 1",
        (after,),
    ).fetchone()
    return None if found is None else (found[0], after)


# Every event about the ticket `tickets.id` names, in the order they were committed (the
# replay order), as one JSON array: for a query on `tickets` to read with each row.
EVENTS_OF_TICKET = (
    f"(SELECT json_group_array(json(event)) FROM (SELECT {EVENT_JSON} AS event"
    " FROM audit_events WHERE ticket_id = tickets.id ORDER BY id))"
)
_EVENTS = TypeAdapter(list[AuditEvent])


def events_from_json(document: str | bytes) -> list[AuditEvent]:
    """The events `EVENTS_OF_TICKET` gives, parsed and validated in Rust at once."""
    return _EVENTS.validate_json(document)


class SqliteAuditLog:
    """Reads the audit log on the connection it is given (the request's unit of work)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def page(self, audit_filter: AuditFilter, *, visible_to: str | None = None) -> AuditPage:
        """A page of events in the filter's order, and the total that matches, from one
        snapshot.

        With `visible_to`, only events about tickets that user created are included.
        """
        with db.transaction(self.conn, write=False):
            after, sort = audit_filter.after, audit_filter.sort
            cursor = None if after is None else _cursor(self.conn, after, sort)
            total = count_query(audit_filter, visible_to)
            if audit_filter.after is None or cursor is not None:
                more = audit_filter.model_copy(update={"limit": audit_filter.limit + 1})
                rows = list_query(more, visible_to, cursor)
                found, count = read_page(
                    self.conn, PageQuery(rows, total, fix_item_json), audit_filter.limit
                )
            else:  # past the last event
                found, count = PageItems([], [], None), self.conn.execute(*total).fetchone()[0]
        return AuditPage.of_items(
            found,
            total=count,
            limit=audit_filter.limit,
            offset=audit_filter.offset,
            next_after=None if found.last is None else int(found.last),
        )
