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

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.ticket import Timestamp, format_timestamp


class AuditEventType(StrEnum):
    """Every kind of event the log records."""

    SERVICE_STARTED = "service_started"
    TICKET_CREATED = "ticket_created"
    TICKET_CANCELLED = "ticket_cancelled"
    TICKET_STATE_CHANGED = "ticket_state_changed"


class AuditEvent(BaseModel):
    """One entry of the audit log, as the API returns it."""

    model_config = ConfigDict(frozen=True)

    id: int
    event_type: AuditEventType
    timestamp: Timestamp
    data: dict[str, Any]


class AuditFilter(BaseModel):
    """Which audit events to list or count, and which page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: AuditEventType | None = None
    ticket_id: str | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 50
    offset: Annotated[int, Field(ge=0)] = 0


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


def _where(flt: AuditFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if flt.event_type is not None:
        clauses.append("event_type = ?")
        params.append(flt.event_type.value)
    if flt.ticket_id is not None:
        clauses.append("ticket_id = ?")
        params.append(flt.ticket_id)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _row_to_event(row: sqlite3.Row) -> AuditEvent:
    return AuditEvent(
        id=row["id"],
        event_type=AuditEventType(row["event_type"]),
        timestamp=row["timestamp"],
        data=decode_data(row["data"]),
    )


def list_events(conn: sqlite3.Connection, flt: AuditFilter) -> list[AuditEvent]:
    """The filtered page of events, oldest first."""
    where, params = _where(flt)
    rows = conn.execute(
        f"SELECT id, event_type, timestamp, data FROM audit_events{where}"
        " ORDER BY id LIMIT ? OFFSET ?",
        [*params, flt.limit, flt.offset],
    ).fetchall()
    return [_row_to_event(row) for row in rows]


def count_events(conn: sqlite3.Connection, flt: AuditFilter) -> int:
    """How many events match the filter, ignoring paging."""
    where, params = _where(flt)
    count: int = conn.execute(f"SELECT count(*) FROM audit_events{where}", params).fetchone()[0]
    return count
