"""Delivering the audit log to the targets: each reads the log after its own cursor (the
last event it dealt with), so recording an event writes nothing for the targets; the
delivery writes as it goes.

One run (`deliver_due`): find the targets with events after their cursor and no retry
waiting, claim them with a lease (`BEGIN IMMEDIATE`, so of several processes or Lambda
containers only one gets each target), then send each claimed target its events in order.
The cursor moves past an event only once it is delivered (or given up), in the same
transaction that checks the lease is still ours; a crash between the send and that commit
sends the event again after the lease runs out, with the same `webhook-id`.

A failed send stops the target's run: it is tried again after an exponential backoff with
jitter. An event that still fails when it is `GIVE_UP_AFTER` old is given up (recorded,
`notification_given_up`) and the target moves on; after `PAUSE_AFTER_GIVE_UPS` of them in
a row, or at once on a 410 Gone, the target is paused (`notification_target_paused`).
"""

from __future__ import annotations

import random
import sqlite3
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from threading import Lock

from chalicelib.actors import NOTIFIER_ACTOR
from chalicelib.audit.events import AuditEvent, AuditEventType, record, row_to_event
from chalicelib.notifications import deliveries, leases, messages, sending
from chalicelib.notifications.addresses import AddressPolicy
from chalicelib.notifications.model import DeliveryStatus, TargetRow, TargetScope
from chalicelib.storage import db
from chalicelib.timestamps import format_timestamp, utc_now

EVENTS_PER_READ = 20
IDS_PER_SCAN = 500
GIVE_UP_AFTER = timedelta(hours=24)
PAUSE_AFTER_GIVE_UPS = 3
FIRST_RETRY_SECONDS = 5.0
LONGEST_RETRY_SECONDS = 3600.0
PARALLEL_TARGETS = 4
Clock = Callable[[], datetime]


def retry_delay(failures: int, rng: random.Random | None = None) -> float:
    """Seconds before the next attempt after `failures` failed ones in a row: doubling from
    `FIRST_RETRY_SECONDS` up to an hour, each drawn between half and all of that (jitter),
    so targets that failed together do not retry together."""
    ceiling = min(LONGEST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2.0 ** min(failures - 1, 30))
    jitter: float = (rng or random).uniform(0.5, 1.0)
    return ceiling * jitter


@dataclass
class RunReport:
    """What one run did."""

    targets: int = 0
    delivered: int = 0
    failed: int = 0
    given_up: int = 0
    paused: int = 0
    lock: Lock = field(default_factory=Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def summary(self) -> dict[str, int]:
        """The counts, for a log line or a Lambda answer."""
        names = ("targets", "delivered", "failed", "given_up", "paused")
        return {name: getattr(self, name) for name in names}


class LeaseLost(Exception):
    """The target was removed, paused, or claimed by another run after our lease ran out."""


def deliver_due(
    db_path: Path,
    *,
    worker: str,
    policy: AddressPolicy | None = None,
    budget_seconds: float | None = None,
    clock: Clock = utc_now,
) -> RunReport:
    """Deliver what is due to every target this run can claim; `worker` names the process
    in its leases (`host:pid`, or any name without a colon), `budget_seconds` bounds the
    run (a Lambda invocation's), `clock` is the time. Raises `StorageUnavailable` or
    `StorageCorrupt` for storage faults."""
    report = RunReport()
    token = f"{worker}/{uuid.uuid4().hex[:12]}"
    with db.connect(db_path) as conn:
        with db.transaction(conn, write=False):
            now = format_timestamp(clock())
            stale = leases.stale_leases(conn, worker, now)
            due = leases.due_targets(conn, now, stale)
        if not due:
            return report
        claimed = leases.claim(conn, due, token, clock(), stale)
    report.targets = len(claimed)
    deadline = time.monotonic() + (budget_seconds if budget_seconds is not None else 1e9)
    run = _Run(db_path, token, policy or AddressPolicy.from_settings(), deadline, clock, report)
    if len(claimed) == 1:
        run.work_on(claimed[0])
    elif claimed:
        with ThreadPoolExecutor(min(PARALLEL_TARGETS, len(claimed))) as pool:
            list(pool.map(run.work_on, claimed))
    return report


def _pending(conn: sqlite3.Connection, target: TargetRow) -> tuple[list[AuditEvent], int]:
    """The next events for `target` (at most `EVENTS_PER_READ`, among the next
    `IDS_PER_SCAN` ids), and the last id looked at."""
    last: int = conn.execute("SELECT coalesce(max(id), 0) FROM audit_events").fetchone()[0]
    upto = min(target.cursor + IDS_PER_SCAN, last)
    sql = "SELECT id, event_type, timestamp, data FROM audit_events WHERE id > ? AND id <= ?"
    params: list[object] = [target.cursor, upto]
    if target.events:
        sql += f" AND event_type IN ({', '.join('?' * len(target.events))})"
        params += target.events
    if target.scope is TargetScope.OWN_TICKETS:
        sql += " AND ticket_id IN (SELECT id FROM tickets WHERE created_by = ?)"
        params.append(target.owner)
    rows = conn.execute(f"{sql} ORDER BY id LIMIT ?", [*params, EVENTS_PER_READ]).fetchall()
    return [row_to_event(row) for row in rows], upto


@dataclass
class _Run:
    db_path: Path
    token: str
    policy: AddressPolicy
    deadline: float
    clock: Clock
    report: RunReport

    def work_on(self, target_id: str) -> None:
        """Send one claimed target its events, in order, until a failure or the end."""
        with db.connect(self.db_path) as conn:
            try:
                while time.monotonic() < self.deadline and self._one_read(conn, target_id):
                    pass
            except LeaseLost:
                return
            leases.release(conn, target_id, self.token)

    def _target(self, conn: sqlite3.Connection, target_id: str) -> TargetRow:
        row = conn.execute(
            "SELECT * FROM notification_targets WHERE id = ? AND lease_owner = ?"
            " AND paused_at IS NULL",
            (target_id, self.token),
        ).fetchone()
        if row is None:
            raise LeaseLost(target_id)
        return TargetRow.from_row(row)

    def _one_read(self, conn: sqlite3.Connection, target_id: str) -> bool:
        """Deliver the next events read; whether to read on."""
        with db.transaction(conn, write=False):
            target = self._target(conn, target_id)
            events, upto = _pending(conn, target)
            texts = {e.id: _text(conn, e) for e in events}
        if not events:
            if upto > target.cursor:  # nothing for this target there: look further on
                with db.transaction(conn):
                    self._target(conn, target_id)
                    conn.execute(
                        "UPDATE notification_targets SET cursor = ? WHERE id = ?", (upto, target_id)
                    )
                return True
            return False
        for event in events:
            if time.monotonic() >= self.deadline:
                return False
            notice = sending.event_notice(target.id, event, texts[event.id])
            outcome = sending.send(target, notice, self.policy, self.clock())
            if not self._settle(conn, target_id, _Sent(event, notice.message_id, outcome)):
                return False
        return True

    def _settle(self, conn: sqlite3.Connection, target_id: str, sent: _Sent) -> bool:
        """Record one send's outcome, if the lease is still ours; whether to go on."""
        at, outcome = self.clock(), sent.outcome
        with db.transaction(conn):
            target = self._target(conn, target_id)
            if outcome.delivered:
                until = format_timestamp(at + timedelta(seconds=leases.LEASE_SECONDS))
                conn.execute(
                    "UPDATE notification_targets SET cursor = ?, failures = 0, give_ups = 0,"
                    " next_attempt_at = NULL, last_error = NULL, last_delivered_at = ?,"
                    " lease_until = ? WHERE id = ?",
                    (sent.event.id, format_timestamp(at), until, target_id),
                )
                sent.record(conn, target, "delivered", at)
                self.report.add(delivered=1)
                return True
            failures = target.failures + 1
            retry_at = format_timestamp(at + timedelta(seconds=retry_delay(failures)))
            conn.execute(
                "UPDATE notification_targets SET failures = ?, next_attempt_at = ?,"
                " last_error = ? WHERE id = ?",
                (failures, retry_at, outcome.error, target_id),
            )
            self.report.add(failed=1)
            if outcome.gone:
                sent.record(conn, target, "retrying", at)
                self._pause(conn, target, "the receiver answered 410 Gone")
            elif at - sent.event.timestamp >= GIVE_UP_AFTER:
                self._give_up(conn, target, sent, at)
            else:
                sent.record(conn, target, "retrying", at)
        return False

    def _give_up(
        self, conn: sqlite3.Connection, target: TargetRow, sent: _Sent, at: datetime
    ) -> None:
        sent.record(conn, target, "given_up", at)
        give_ups = target.give_ups + 1
        conn.execute(
            "UPDATE notification_targets SET cursor = ?, give_ups = ? WHERE id = ?",
            (sent.event.id, give_ups, target.id),
        )
        data = {"target_id": target.id, "owner": target.owner, "event_id": sent.event.id}
        data |= {"error": sent.outcome.error, "url": _masked(conn, target.id)}
        # Stamped with the real time, in commit order like every event (`clock` may differ).
        given_up = AuditEventType.NOTIFICATION_GIVEN_UP
        record(conn, given_up, data, actor=NOTIFIER_ACTOR, at=utc_now())
        self.report.add(given_up=1)
        if give_ups >= PAUSE_AFTER_GIVE_UPS:
            reason = f"{give_ups} events in a row could not be delivered for a day"
            self._pause(conn, target, reason)

    def _pause(self, conn: sqlite3.Connection, target: TargetRow, reason: str) -> None:
        now = utc_now()
        conn.execute(
            "UPDATE notification_targets SET paused_at = ?, paused_reason = ? WHERE id = ?",
            (format_timestamp(now), reason, target.id),
        )
        data = {"target_id": target.id, "owner": target.owner, "url": _masked(conn, target.id)}
        data["reason"] = reason
        paused = AuditEventType.NOTIFICATION_TARGET_PAUSED
        record(conn, paused, data, actor=NOTIFIER_ACTOR, at=now)
        self.report.add(paused=1)


@dataclass(frozen=True)
class _Sent:
    """One event sent to a target, and what came of it."""

    event: AuditEvent
    message_id: str
    outcome: sending.Outcome

    def record(
        self, conn: sqlite3.Connection, target: TargetRow, status: DeliveryStatus, at: datetime
    ) -> None:
        deliveries.record_attempt(
            conn,
            target.id,
            self.event.id,
            message_id=self.message_id,
            outcome=self.outcome,
            status=status,
            at=at,
        )


def _text(conn: sqlite3.Connection, event: AuditEvent) -> str:
    return messages.message(event, messages.ticket_description(conn, event.data.get("ticket_id")))


def _masked(conn: sqlite3.Connection, target_id: str) -> str:
    row = conn.execute(
        "SELECT masked_url FROM notification_targets WHERE id = ?", (target_id,)
    ).fetchone()
    return str(row[0])
