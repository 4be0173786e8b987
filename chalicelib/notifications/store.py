"""Notification targets in the database: saved (with an audit event that never holds a
secret), listed, removed, resumed and tested by their owner, or by an admin."""

from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any
from urllib.parse import urlsplit

from chalicelib.audit.events import AuditEventType, record
from chalicelib.errors import Forbidden, InvalidInput, TargetNotFound
from chalicelib.notifications import apprise_sender, deliveries, urls, webhook
from chalicelib.notifications.addresses import AddressPolicy
from chalicelib.notifications.model import (
    CreatedTarget,
    CreateTargetRequest,
    Delivery,
    DeliveryList,
    NotificationTarget,
    TargetKind,
    TargetList,
    TargetRow,
    TargetScope,
    shown,
)
from chalicelib.storage import db
from chalicelib.tickets.events import TICKET_EVENTS
from chalicelib.timestamps import format_timestamp, utc_now

MAX_TARGETS_PER_OWNER = 20
RECENT_DELIVERIES = 50
_COLUMNS = (
    "id, owner, scope, kind, url, masked_url, service, secret, events, created_at, cursor,"
    " paused_at, paused_reason, failures, give_ups, next_attempt_at, last_error,"
    " last_delivered_at"
)


def _checked_url(request: CreateTargetRequest, policy: AddressPolicy) -> str:
    """The service the URL names, once it is a URL this kind can send to."""
    if request.kind is TargetKind.WEBHOOK:
        urls.check_webhook_url(request.url, policy)
        return "Webhook"
    parts = urls.split(request.url)
    service = apprise_sender.service_name(request.url)
    if service is None:
        hint = (
            '; to POST signed JSON events to it, send "kind": "webhook"'
            if parts.scheme in ("http", "https")
            else " (see docs/notifications.md for the services and their URLs)"
        )
        raise InvalidInput(f"field 'url': Apprise does not know this URL{hint}", field="url")
    check_host = urlsplit(request.url.strip()).hostname
    urls.check_literal_host(check_host, policy)
    return service


def _scope(request: CreateTargetRequest, *, is_admin: bool) -> TargetScope:
    if is_admin:
        return TargetScope.ALL
    others = sorted({e.value for e in request.events or ()} - {e.value for e in TICKET_EVENTS})
    if others:
        allowed = ", ".join(sorted(e.value for e in TICKET_EVENTS))
        raise Forbidden(
            f"a user's target gets only the events of that user's own tickets ({allowed}), "
            f"not {', '.join(others)}"
        )
    return TargetScope.OWN_TICKETS


def _check_room(conn: sqlite3.Connection, owner: str) -> None:
    mine = conn.execute(
        "SELECT count(*) FROM notification_targets WHERE owner = ?", (owner,)
    ).fetchone()[0]
    if mine >= MAX_TARGETS_PER_OWNER:
        raise InvalidInput(
            f"{owner} has {MAX_TARGETS_PER_OWNER} notification targets already; remove one first",
            field="url",
        )


class SqliteTargetStore:
    """Notification targets on the connection it is given (the request's unit of work).

    `owner` is the caller's name, or None for an admin, who may act on any target; a
    target of someone else's is not found, so its existence is not given away.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def create(
        self, request: CreateTargetRequest, *, owner: str, is_admin: bool, policy: AddressPolicy
    ) -> CreatedTarget:
        """Save a target; its deliveries start with the next event. Raises `InvalidInput`
        for a URL that cannot be sent to, `Forbidden` for events a user may not have."""
        scope = _scope(request, is_admin=is_admin)
        service = _checked_url(request, policy)
        secret = webhook.new_secret() if request.kind is TargetKind.WEBHOOK else None
        target_id = f"nt_{secrets.token_hex(6)}"
        events = sorted({e.value for e in request.events or ()})
        masked = urls.masked(request.url)
        with db.transaction(self.conn):
            _check_room(self.conn, owner)
            now = utc_now()
            data: dict[str, Any] = {"target_id": target_id, "owner": owner}
            data["kind"] = request.kind.value
            data |= {"url": masked, "service": service, "events": events, "scope": scope.value}
            # Its own creation is the last event it does not get.
            cursor = record(
                self.conn, AuditEventType.NOTIFICATION_TARGET_CREATED, data, actor=owner, at=now
            )
            self.conn.execute(
                "INSERT INTO notification_targets (id, owner, scope, kind, url, masked_url,"
                " service, secret, events, created_at, cursor)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *(target_id, owner, scope.value, request.kind.value, request.url.strip()),
                    *(masked, service, secret, json.dumps(events), format_timestamp(now), cursor),
                ),
            )
            row = self._row(target_id, None)
        return CreatedTarget(**shown(row).model_dump(), secret=secret)

    def _row(self, target_id: str, owner: str | None) -> sqlite3.Row:
        sql = f"SELECT {_COLUMNS} FROM notification_targets WHERE id = ?"
        params: list[Any] = [target_id]
        if owner is not None:
            sql += " AND owner = ?"
            params.append(owner)
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        if row is None:
            raise TargetNotFound(target_id)
        return row

    def get(self, target_id: str, *, owner: str | None) -> NotificationTarget:
        """One target; raises `TargetNotFound`."""
        with db.transaction(self.conn, write=False):
            return shown(self._row(target_id, owner))

    def list(self, *, owner: str | None) -> TargetList:
        """The owner's targets (every target for None), oldest first."""
        sql = f"SELECT {_COLUMNS} FROM notification_targets"
        params: tuple[str, ...] = ()
        if owner is not None:
            sql, params = sql + " WHERE owner = ?", (owner,)
        with db.transaction(self.conn, write=False):
            rows = self.conn.execute(f"{sql} ORDER BY created_at, id", params).fetchall()
        return TargetList(targets=[shown(row) for row in rows])

    def delete(self, target_id: str, *, owner: str | None, actor: str) -> NotificationTarget:
        """Remove a target and its delivery record; raises `TargetNotFound`."""
        with db.transaction(self.conn):
            target = shown(self._row(target_id, owner))
            self.conn.execute("DELETE FROM notification_targets WHERE id = ?", (target_id,))
            data = {"target_id": target_id, "owner": target.owner, "url": target.url}
            deleted = AuditEventType.NOTIFICATION_TARGET_DELETED
            record(self.conn, deleted, data, actor=actor, at=utc_now())
        return target

    def resume(
        self, target_id: str, *, owner: str | None, actor: str, skip_missed: bool
    ) -> NotificationTarget:
        """Deliver to a paused target again, from where it stopped or (`skip_missed`) from
        now on; raises `TargetNotFound`. Resuming an active target changes nothing."""
        with db.transaction(self.conn):
            row = self._row(target_id, owner)
            if row["paused_at"] is None:
                return shown(row)
            data = {"target_id": target_id, "owner": row["owner"], "url": row["masked_url"]}
            data["skip_missed"] = skip_missed
            resumed = AuditEventType.NOTIFICATION_TARGET_RESUMED
            event_id = record(self.conn, resumed, data, actor=actor, at=utc_now())
            self.conn.execute(
                "UPDATE notification_targets SET paused_at = NULL, paused_reason = NULL,"
                " failures = 0, give_ups = 0, next_attempt_at = NULL,"
                " cursor = CASE WHEN ? THEN ? ELSE cursor END WHERE id = ?",
                (skip_missed, event_id, target_id),
            )
            return shown(self._row(target_id, None))

    def deliveries(self, target_id: str, *, owner: str | None) -> DeliveryList:
        """A target's most recent deliveries, newest first; raises `TargetNotFound`."""
        with db.transaction(self.conn, write=False):
            self._row(target_id, owner)
            found = deliveries.recent(self.conn, target_id, RECENT_DELIVERIES)
        return DeliveryList(target_id=target_id, deliveries=found)

    def send_test(self, target_id: str, *, owner: str | None, policy: AddressPolicy) -> Delivery:
        """Send a test notice now and record it; raises `TargetNotFound`. No transaction is
        open while it is sent."""
        with db.transaction(self.conn, write=False):
            target = TargetRow.from_row(self._row(target_id, owner))
        sent = deliveries.send_test(target, policy)
        with db.transaction(self.conn):
            self._row(target_id, None)  # removed meanwhile: TargetNotFound
            return deliveries.record_test(self.conn, target_id, sent)
