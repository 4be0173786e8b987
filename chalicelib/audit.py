"""The audit log: an append-only record of everything that happened, in the tickets' database.

Events are written inside the caller's transaction, so a change and its event
commit together or not at all.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from chalicelib.ticket import (
    MAX_QUERY_INTEGER,
    QueryTimestamp,
    Timestamp,
    format_timestamp,
    one_or_many,
)


class AuditEventType(StrEnum):
    """Every kind of event the log records."""

    SERVICE_STARTED = "service_started"
    TICKET_CREATED = "ticket_created"
    TICKET_CANCELLED = "ticket_cancelled"
    TICKET_STATE_CHANGED = "ticket_state_changed"
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"


class AuditEvent(BaseModel):
    """One entry of the audit log, as the API returns it."""

    model_config = ConfigDict(frozen=True)

    id: int
    event_type: AuditEventType
    timestamp: Timestamp
    data: dict[str, Any]


# Oldest first; the id breaks ties between events of the same microsecond.
ORDER = "timestamp, id"


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
    limit: Annotated[int, Field(ge=1, le=1000)] = 50
    offset: Annotated[int, Field(ge=0, le=MAX_QUERY_INTEGER)] = 0
    after: int | None = Field(
        default=None,
        ge=0,
        le=MAX_QUERY_INTEGER,
        description=(
            "Start right after this event (the `next` links use it): fast at any depth. An id "
            "that names no event starts at the next one that exists. With `offset`, skip "
            "that many more."
        ),
    )


def encode_data(data: dict[str, Any]) -> str:
    """The event data as stored in `audit_events.data`."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def decode_data(text: str) -> dict[str, Any]:
    """Read an `audit_events.data` value; raises `ValueError` if it is not a JSON object."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("event data is not a JSON object")
    return data


def record(
    conn: sqlite3.Connection,
    event_type: AuditEventType,
    data: dict[str, Any],
    *,
    actor: str,
    at: datetime,
) -> int:
    """Append one event inside the caller's transaction; return its id."""
    ticket_id = data.get("ticket_id")
    cursor = conn.execute(
        "INSERT INTO audit_events (event_type, timestamp, ticket_id, actor, data)"
        " VALUES (?, ?, ?, ?, ?)",
        (event_type.value, format_timestamp(at), ticket_id, actor, encode_data(data)),
    )
    event_id = cursor.lastrowid
    assert event_id is not None  # an INSERT into a rowid table always sets it
    return event_id


def _where(flt: AuditFilter, visible_to: str | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if visible_to is not None:
        clauses.append("ticket_id IN (SELECT id FROM tickets WHERE created_by = ?)")
        params.append(visible_to)
    if flt.event_type:
        types = sorted({t.value for t in flt.event_type})
        clauses.append(f"event_type IN ({', '.join('?' * len(types))})")
        params.extend(types)
    if flt.ticket_id is not None:
        clauses.append("ticket_id = ?")
        params.append(flt.ticket_id)
    if flt.since is not None:
        clauses.append("timestamp >= ?")
        params.append(format_timestamp(flt.since))
    if flt.until is not None:
        clauses.append("timestamp < ?")
        params.append(format_timestamp(flt.until))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _row_to_event(row: sqlite3.Row) -> AuditEvent:
    return AuditEvent(
        id=row["id"],
        event_type=AuditEventType(row["event_type"]),
        timestamp=row["timestamp"],
        data=decode_data(row["data"]),
    )


def list_query(
    flt: AuditFilter, visible_to: str | None = None, cursor: tuple[str, int] | None = None
) -> tuple[str, list[Any]]:
    """The SQL and parameters that list a page of events (also used to show query plans).

    `cursor` is the (timestamp, id) of the `after` event: the page starts right after it
    with an index seek, however deep it is.
    """
    where, params = _where(flt, visible_to)
    if cursor is not None:
        where = f"{where} AND " if where else " WHERE "
        where += "(timestamp, id) > (?, ?)"
        params = [*params, *cursor]
    sql = f"SELECT id, event_type, timestamp, data FROM audit_events{where} ORDER BY {ORDER}"
    return f"{sql} LIMIT ? OFFSET ?", [*params, flt.limit, flt.offset]


def list_events(
    conn: sqlite3.Connection, flt: AuditFilter, *, visible_to: str | None = None
) -> list[AuditEvent]:
    """The filtered page of events, oldest first (only `visible_to`'s tickets if given)."""
    cursor = None
    if flt.after is not None:
        # The position of the first event at or above `after`, so an id that names no
        # event (0, or one beyond the last) is a cursor too.
        found = conn.execute(
            "SELECT timestamp FROM audit_events WHERE id >= ? ORDER BY id LIMIT 1", (flt.after,)
        ).fetchone()
        if found is None:
            return []
        cursor = (found[0], flt.after)
    sql, params = list_query(flt, visible_to, cursor)
    return [_row_to_event(row) for row in conn.execute(sql, params).fetchall()]


def ticket_events(conn: sqlite3.Connection, ticket_id: str) -> list[AuditEvent]:
    """Every event about one ticket, in the order they were committed (the replay order)."""
    rows = conn.execute(
        "SELECT id, event_type, timestamp, data FROM audit_events WHERE ticket_id = ? ORDER BY id",
        (ticket_id,),
    ).fetchall()
    return [_row_to_event(row) for row in rows]


def count_events(
    conn: sqlite3.Connection, flt: AuditFilter, *, visible_to: str | None = None
) -> int:
    """How many events match the filter, ignoring paging."""
    narrowed = flt.model_dump(
        exclude={"event_type", "limit", "offset", "after"}, exclude_defaults=True
    )
    if visible_to is None and not narrowed:
        # By event type at most: `audit_counts`, kept by a trigger (migration 8), is one
        # lookup per type however long the log grows.
        types = sorted({t.value for t in flt.event_type or ()})
        where = f" WHERE event_type IN ({', '.join('?' * len(types))})" if types else ""
        total: int = conn.execute(
            f"SELECT coalesce(sum(events), 0) FROM audit_counts{where}", types
        ).fetchone()[0]
        return total
    where, params = _where(flt, visible_to)
    count: int = conn.execute(f"SELECT count(*) FROM audit_events{where}", params).fetchone()[0]
    return count
