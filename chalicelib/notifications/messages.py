"""The short human message an Apprise target gets for an event: "Abbey Road by The
Beatles: completed". A webhook gets the event itself instead (see `delivery`)."""

from __future__ import annotations

import sqlite3
from typing import Any

from chalicelib.audit.events import AuditEvent, AuditEventType

TITLE = "torrentino"
LONGEST_NAME = 80


def ticket_name(description: str) -> str:
    """A ticket's name in a message: the first line of its description, shortened."""
    line = description.strip().split("\n", 1)[0].strip() or "(no description)"
    return line if len(line) <= LONGEST_NAME else line[: LONGEST_NAME - 1] + "…"


def ticket_description(conn: sqlite3.Connection, ticket_id: object) -> str | None:
    """The description of the ticket an event is about, read from the tickets table."""
    if not isinstance(ticket_id, str):
        return None
    row = conn.execute(
        "SELECT json_extract(query_context, '$.description') FROM tickets WHERE id = ?",
        (ticket_id,),
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _state_change(data: dict[str, Any]) -> str:
    state = data.get("state")
    details = state.get(str(data.get("to")), {}) if isinstance(state, dict) else {}
    error = details.get("error") if isinstance(details, dict) else None
    return f"{data.get('to')}" + (f": {error}" if error else "")


def message(event: AuditEvent, description: str | None = None) -> str:
    """One line saying what happened; `description` is the ticket's, for a ticket event."""
    data = event.data
    name = ticket_name(description) if description is not None else "A ticket"
    kind = event.event_type
    if kind is AuditEventType.TICKET_CREATED:
        return f"{name}: filed by {data.get('created_by')}"
    if kind is AuditEventType.TICKET_CANCELLED:
        reason = data.get("reason")
        return f"{name}: cancelled" + (f" ({reason})" if reason else "")
    if kind is AuditEventType.TICKET_STATE_CHANGED:
        return f"{name}: {_state_change(data)}"
    texts = {
        AuditEventType.SERVICE_STARTED: f"torrentino {data.get('version')} started",
        AuditEventType.BACKUP_CREATED: f"Backup {data.get('file')} taken",
        AuditEventType.BACKUP_FAILED: f"Backup failed: {data.get('reason')}",
        AuditEventType.BACKUP_RESTORED: f"Backup {data.get('file')} restored",
        AuditEventType.API_KEY_CREATED: f"API key created for {data.get('user')}",
        AuditEventType.API_KEY_REVOKED: f"API key of {data.get('user')} revoked",
    }
    target = f"Notification target {data.get('target_id')} ({data.get('url')})"
    texts.update(
        {
            AuditEventType.NOTIFICATION_TARGET_CREATED: f"{target} added",
            AuditEventType.NOTIFICATION_TARGET_DELETED: f"{target} removed",
            AuditEventType.NOTIFICATION_TARGET_PAUSED: f"{target} paused: {data.get('reason')}",
            AuditEventType.NOTIFICATION_TARGET_RESUMED: f"{target} resumed",
            AuditEventType.NOTIFICATION_GIVEN_UP: (
                f"{target} gave up on event {data.get('event_id')}: {data.get('error')}"
            ),
        }
    )
    return texts.get(kind, kind.value.replace("_", " ").capitalize())
