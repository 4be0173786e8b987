"""A target's delivery record: one row per event sent to it (and per test), its attempts
counted, kept for the most recent `KEPT_PER_TARGET`; and sending a test."""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from chalicelib import settings
from chalicelib.notifications import sending
from chalicelib.notifications.addresses import AddressPolicy
from chalicelib.notifications.model import Delivery, DeliveryStatus, TargetRow
from chalicelib.notifications.sending import Outcome
from chalicelib.timestamps import format_timestamp, utc_now

KEPT_PER_TARGET = 100


def record_attempt(
    conn: sqlite3.Connection,
    target_id: str,
    event_id: int | None,
    *,
    message_id: str,
    outcome: Outcome,
    status: DeliveryStatus,
    at: datetime,
) -> None:
    """Count one attempt at an event (a new row for a test), inside the caller's
    transaction, and forget the oldest rows beyond those kept."""
    now = format_timestamp(at)
    conn.execute(
        "INSERT INTO notification_deliveries (target_id, event_id, message_id, status, attempts,"
        " first_attempt_at, last_attempt_at, response_status, last_error)"
        " VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)"
        " ON CONFLICT (target_id, event_id) DO UPDATE SET status = excluded.status,"
        " attempts = attempts + 1, last_attempt_at = excluded.last_attempt_at,"
        " response_status = excluded.response_status, last_error = excluded.last_error",
        (target_id, event_id, message_id, status, now, now, outcome.status, outcome.error),
    )
    conn.execute(
        "DELETE FROM notification_deliveries WHERE target_id = ? AND id <= ("
        " SELECT id FROM notification_deliveries WHERE target_id = ?"
        " ORDER BY id DESC LIMIT 1 OFFSET ?)",
        (target_id, target_id, KEPT_PER_TARGET),
    )


def recent(conn: sqlite3.Connection, target_id: str, limit: int) -> list[Delivery]:
    """A target's most recent deliveries, newest first."""
    rows = conn.execute(
        "SELECT event_id, message_id, status, attempts, first_attempt_at, last_attempt_at,"
        " response_status, last_error FROM notification_deliveries WHERE target_id = ?"
        " ORDER BY id DESC LIMIT ?",
        (target_id, limit),
    ).fetchall()
    return [Delivery.model_validate(dict(row)) for row in rows]


TEST_MESSAGE = "A test from torrentino: this target works."
OFF = f"this server sends no notifications ({settings.NOTIFY_DELIVERY_VARIABLE}=0)"


@dataclass(frozen=True)
class SentTest:
    """A test notice sent to a target, and what came of it."""

    message_id: str
    outcome: Outcome
    at: datetime


def send_test(target: TargetRow, policy: AddressPolicy) -> SentTest:
    """Send `target` a test notice, shaped like an event (`notification_test`), now."""
    now = utc_now()
    test_id = f"msg_{target.id}_test_{secrets.token_hex(4)}"
    event = {"id": 0, "event_type": "notification_test", "timestamp": format_timestamp(now)}
    event["data"] = {"target_id": target.id, "message": TEST_MESSAGE}
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if settings.notify_delivery():
        outcome = sending.send(target, sending.Notice(test_id, body, TEST_MESSAGE), policy, now)
    else:
        outcome = Outcome(False, None, OFF)
    return SentTest(test_id, outcome, now)


def record_test(conn: sqlite3.Connection, target_id: str, sent: SentTest) -> Delivery:
    """Record a test inside the caller's transaction; the delivery as recorded."""
    status: DeliveryStatus = "delivered" if sent.outcome.delivered else "failed"
    record_attempt(
        conn,
        target_id,
        None,
        message_id=sent.message_id,
        outcome=sent.outcome,
        status=status,
        at=sent.at,
    )
    return recent(conn, target_id, 1)[0]
