"""Every API key explained by its audit events, as every ticket is by its own.

A row of `api_keys` is explained when the log holds exactly one `api_key_created` event
for its id, giving its user, its role and its creation time, and, if the key is revoked,
one `api_key_revoked` event giving the time (a key not revoked has none). The time is
the event's own, or the `created_at` / `revoked_at` in its data when a restore carried
the key over from the database it replaced (`chalicelib.backups.restore_keys`). A key event whose
key does not exist is reported too. The secret's hash is not in the log, so it cannot be
explained by it; a restore compares it with the live database's instead.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from chalicelib.audit.events import AuditEventType, decode_data

Mismatch = tuple[str, str]  # (subject, message), as `chalicelib.backups.check.Problem` takes them

KEY_EVENTS = (AuditEventType.API_KEY_CREATED, AuditEventType.API_KEY_REVOKED)


@dataclass
class _KeyEvents:
    """A key's creations and revocations, oldest first, as (event id, time, data)."""

    created: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    revoked: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)


def _key_events(conn: sqlite3.Connection, found: list[Mismatch]) -> dict[str, _KeyEvents]:
    by_key: dict[str, _KeyEvents] = defaultdict(_KeyEvents)
    rows = conn.execute(
        "SELECT id, event_type, timestamp, data FROM audit_events"
        " WHERE event_type IN (?, ?) ORDER BY id",
        [kind.value for kind in KEY_EVENTS],
    )
    for row in rows:
        try:
            data = decode_data(row["data"])
        except (TypeError, ValueError) as error:
            found.append((f"event {row['id']}", f"unreadable event: {error}"))
            continue
        key_id = data.get("key_id")
        if not isinstance(key_id, str):
            found.append((f"event {row['id']}", f"{row['event_type']} names no key_id"))
            continue
        events = by_key[key_id]
        created = row["event_type"] == AuditEventType.API_KEY_CREATED
        (events.created if created else events.revoked).append((row["id"], row["timestamp"], data))
    return by_key


def key_mismatches(conn: sqlite3.Connection) -> list[Mismatch]:
    """Every key the log does not explain, and every key event without its key."""
    found: list[Mismatch] = []
    by_key = _key_events(conn, found)
    rows = conn.execute(
        "SELECT id, user, role, created_at, revoked_at FROM api_keys ORDER BY id"
    ).fetchall()
    for row in rows:
        found.extend((f"key {row['id']}", message) for message in _compare(row, by_key[row["id"]]))
    keys = {row["id"] for row in rows}
    for key_id, events in sorted(by_key.items()):
        if key_id not in keys:
            for event_id, _, _ in events.created + events.revoked:
                found.append((f"event {event_id}", f"refers to key {key_id}, which does not exist"))
    return found


def _compare(row: sqlite3.Row, events: _KeyEvents) -> list[str]:
    if not events.created:
        return ["has no api_key_created event"]
    if len(events.created) > 1:
        ids = ", ".join(str(event_id) for event_id, _, _ in events.created)
        return [f"has {len(events.created)} api_key_created events ({ids})"]
    if len(events.revoked) > 1:
        ids = ", ".join(str(event_id) for event_id, _, _ in events.revoked)
        return [f"has {len(events.revoked)} api_key_revoked events ({ids})"]
    _, at, data = events.created[0]
    logged = {"user": data.get("user"), "role": data.get("role")}
    logged["created_at"] = data.get("created_at", at)
    revoked_at = None
    if events.revoked:
        _, at, data = events.revoked[0]
        revoked_at = data.get("revoked_at", at)
    logged["revoked_at"] = revoked_at
    return [
        f"stored {field} is {row[field]!r} but its audit events give {value!r}"
        for field, value in logged.items()
        if row[field] != value
    ]
