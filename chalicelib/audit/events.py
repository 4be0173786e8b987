"""Audit events: their types, how one is written (inside the caller's transaction, so a
change and its event commit together or not at all), and how its data is stored."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_json

from chalicelib.timestamps import Timestamp, format_timestamp


class AuditEventType(StrEnum):
    """Every kind of event the log records."""

    SERVICE_STARTED = "service_started"
    TICKET_CREATED = "ticket_created"
    TICKET_CANCELLED = "ticket_cancelled"
    TICKET_STATE_CHANGED = "ticket_state_changed"
    TICKET_UPDATED = "ticket_updated"
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"
    BACKUP_CREATED = "backup_created"
    BACKUP_FAILED = "backup_failed"
    BACKUP_RESTORED = "backup_restored"
    DESTINATION_ADDED = "destination_added"
    DESTINATION_REMOVED = "destination_removed"
    NOTIFICATION_TARGET_CREATED = "notification_target_created"
    NOTIFICATION_TARGET_DELETED = "notification_target_deleted"
    NOTIFICATION_TARGET_PAUSED = "notification_target_paused"
    NOTIFICATION_TARGET_RESUMED = "notification_target_resumed"
    NOTIFICATION_GIVEN_UP = "notification_given_up"


class AuditEvent(BaseModel):
    """One entry of the audit log, as the API returns it."""

    model_config = ConfigDict(frozen=True)

    id: int
    event_type: AuditEventType
    timestamp: Timestamp
    data: dict[str, Any]


def encode_data(data: dict[str, Any]) -> str:
    """The event data as stored in `audit_events.data`."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def decode_data(text: str) -> dict[str, Any]:
    """Read an `audit_events.data` value; raises `ValueError` if it is not a JSON object."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("event data is not a JSON object")
    return data


# How an event is appended (`record`): a write names it among its `db.transaction`'s
# prepared statements.
INSERT_EVENT = (
    "INSERT INTO audit_events (event_type, timestamp, ticket_id, actor, data)"
    " VALUES (?, ?, ?, ?, ?)"
)


def record(
    conn: sqlite3.Connection,
    event_type: AuditEventType,
    data: dict[str, Any],
    *,
    actor: str,
    at: datetime,
) -> int:
    """Append one event inside the caller's transaction; return its id.

    `at` should be read inside the write transaction, so that events are stamped in the
    order they commit and a reader polling for new events cannot skip one.
    """
    return record_encoded(
        conn, event_type, encode_data(data), ticket_id=data.get("ticket_id"), actor=actor, at=at
    )


def record_encoded(
    conn: sqlite3.Connection,
    event_type: AuditEventType,
    encoded: str,
    *,
    ticket_id: str | None,
    actor: str,
    at: datetime,
) -> int:
    """`record`, with the data encoded already (`encode_data`: before the write lock) and
    the ticket it names, if any."""
    cursor = conn.execute(
        INSERT_EVENT, (event_type.value, format_timestamp(at), ticket_id, actor, encoded)
    )
    event_id = cursor.lastrowid
    assert event_id is not None  # an INSERT into a rowid table always sets it
    return event_id


def row_to_event(row: sqlite3.Row) -> AuditEvent:
    """An event read from an `audit_events` row (id, event_type, timestamp, data)."""
    return AuditEvent(
        id=row["id"],
        event_type=AuditEventType(row["event_type"]),
        timestamp=row["timestamp"],
        data=decode_data(row["data"]),
    )


# An event's columns as one JSON document, made by SQLite, for `event_from_json`.
EVENT_JSON = (
    "json_object('id', id, 'event_type', event_type, 'timestamp', timestamp, 'data', json(data))"
)


# A page's rows: each event's JSON (as UTF-8 bytes) and its id (the next page's cursor).
PAGE_COLUMNS = f"CAST({EVENT_JSON} AS BLOB) AS json, id, NULL AS version"
# A number in exponent form as Python's `json` writes one into an event's data (a digit,
# an `e`, a sign, two or three digits, then the end of the value: 1.2e-05), which the model
# writes otherwise (0.000012). A ticket's id never looks so: its groups of hex digits are
# four or more long.
_EXPONENT = re.compile(rb"[0-9]e[-+][0-9]{2,3}[],}]")


def fix_item_json(encoded: bytes) -> bytes:
    """An event's JSON as the API writes it, from its JSON as SQLite made it.

    The two are byte for byte the same (tests/store/test_wire_json.py holds them together),
    except for a number in exponent form: an event with one (a backup's duration, perhaps)
    is written by its model.
    """
    if (b"e-" in encoded or b"e+" in encoded) and _EXPONENT.search(encoded):
        return to_json(event_from_json(encoded))
    return encoded


def event_from_json(document: str | bytes) -> AuditEvent:
    """An event read from its row as `EVENT_JSON` gives it: parsed and validated in Rust
    at once, faster than `row_to_event` (`json.loads` and the model in Python). (The
    consistency check reads rows with `row_to_event`, so one unreadable row is reported
    rather than failing the whole query, as SQLite's `json()` would.)"""
    return AuditEvent.model_validate_json(document)
