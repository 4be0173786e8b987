"""Ticket persistence: the `TicketStore` interface and its SQLite implementation."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, PrivateAttr

from chalicelib import audit, db
from chalicelib.audit import AuditEvent, AuditEventType, AuditFilter
from chalicelib.errors import (
    Forbidden,
    IdempotencyMismatch,
    StaleTicket,
    StorageCorrupt,
    TicketNotFound,
)
from chalicelib.history import HistoryError, TicketHistory, history
from chalicelib.ticket import (
    Cancelled,
    Completed,
    CreateTicketRequest,
    Failed,
    Pending,
    QueryContext,
    Ticket,
    TicketFilter,
    TicketState,
    canonical_ticket_id,
    check_transition,
    decode_state,
    encode_state,
    format_timestamp,
    new_ticket_id,
    next_timestamp,
    parse_timestamp,
    utc_now,
)


class TicketPage(BaseModel):
    """One page of tickets plus the total that matches the filter."""

    model_config = ConfigDict(frozen=True)

    tickets: list[Ticket]
    total: int
    limit: int
    offset: int
    next: str | None = None  # the URL of the next page, set by the API layer
    # The id to continue after (`after=`), when there are more tickets.
    _next_after: str | None = PrivateAttr(default=None)

    def next_after(self) -> str | None:
        """The cursor for the next page, or None on the last page."""
        return self._next_after


class AuditPage(BaseModel):
    """One page of audit events plus the total that matches the filter."""

    model_config = ConfigDict(frozen=True)

    events: list[AuditEvent]
    total: int
    limit: int
    offset: int
    next: str | None = None  # the URL of the next page, set by the API layer
    # The event id to continue after (`after=`), when there are more events.
    _next_after: int | None = PrivateAttr(default=None)

    def next_after(self) -> int | None:
        """The cursor for the next page, or None on the last page."""
        return self._next_after


class TicketStore(Protocol):
    """What the service needs from ticket storage."""

    def create(self, request: CreateTicketRequest, *, created_by: str) -> Ticket:
        """Store a new pending ticket and its `ticket_created` event."""
        ...

    def get(self, ticket_id: str) -> Ticket:
        """The ticket with this id; raises `TicketNotFound`."""
        ...

    def list(self, flt: TicketFilter) -> list[Ticket]:
        """The filtered page of tickets, in the filter's order."""
        ...

    def count(self, flt: TicketFilter) -> int:
        """How many tickets match the filter, ignoring paging."""
        ...

    def update_state(
        self,
        ticket_id: str,
        new_state: TicketState,
        *,
        actor: str,
        expected_versions: Collection[str] | None = None,
    ) -> Ticket:
        """Move a ticket to a new state.

        Raises `TicketNotFound`, `InvalidTransition`, `StaleTicket`.
        """
        ...


_TICKET_COLUMNS = (
    "id, created_at, created_by, state, priority, query_context, dest_path, updated_at"
)
_STATE_TYPE = "json_extract(state, '$.type')"  # must match the index expression exactly
_ORDER_BY = {"queue": "priority DESC, created_at, id", "newest": "created_at DESC, id DESC"}
# Fields that do not change which tickets match (paging, order), plus the state filter.
COUNTED_BY_STATE_ONLY = {"state", "sort", "limit", "offset", "after"}
# Retries with one Idempotency-Key are recognised for at least this long.
IDEMPOTENCY_RETENTION = timedelta(hours=48)


def _row_to_ticket(row: sqlite3.Row) -> Ticket:
    # Rows were validated on the way in. The query context is built unvalidated, so a row
    # written under older, looser rules for tags and descriptions still reads back. The
    # ticket around it is validated (types, the priority's range, an aware time): pydantic
    # does that in Rust, faster than `model_construct` assembles a model in Python.
    context = json.loads(row["query_context"])
    return Ticket.model_validate(
        {
            "id": row["id"],
            "created_at": parse_timestamp(row["created_at"]),
            "created_by": row["created_by"],
            "state": decode_state(row["state"]),
            "priority": row["priority"],
            "query_context": QueryContext.model_construct(
                tags=context["tags"], description=context["description"]
            ),
            "dest_path": row["dest_path"],
            "version": row["updated_at"],
        }
    )


def _ticket_where(flt: TicketFilter) -> tuple[str, list[Any]]:
    clauses, params = _ticket_conditions(flt)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _ticket_conditions(flt: TicketFilter) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if flt.state:
        states = sorted(set(flt.state))
        clauses.append(f"{_STATE_TYPE} IN ({', '.join('?' * len(states))})")
        params.extend(states)
    if flt.created_by is not None:
        clauses.append("created_by = ?")
        params.append(flt.created_by)
    for tag in sorted(set(flt.tag or ())):
        clauses.append("id IN (SELECT ticket_id FROM ticket_tags WHERE tag = ?)")
        params.append(tag)
    if flt.created_after is not None:
        clauses.append("created_at > ?")
        params.append(format_timestamp(flt.created_after))
    if flt.created_before is not None:
        clauses.append("created_at < ?")
        params.append(format_timestamp(flt.created_before))
    return clauses, params


def request_fingerprint(request: CreateTicketRequest) -> str:
    """A digest of a create request's meaning (not its whitespace or key order)."""
    return hashlib.sha256(request.model_dump_json().encode("utf-8")).hexdigest()


class _SqliteStorage:
    """Opens a connection per call, or works on the one a request already holds."""

    def __init__(self, path: Path, *, conn: sqlite3.Connection | None = None) -> None:
        self.path = path
        self._conn = conn

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return nullcontext(self._conn) if self._conn is not None else db.connect(self.path)


class SqliteTicketStore(_SqliteStorage):
    """`TicketStore` on one SQLite file: a connection per call, or the request's own."""

    def create(self, request: CreateTicketRequest, *, created_by: str) -> Ticket:
        """Store a new pending ticket and its `ticket_created` event in one transaction."""
        with self._connect() as conn, db.transaction(conn):
            return _insert_ticket(conn, request, created_by=created_by)

    def create_idempotent(
        self, request: CreateTicketRequest, *, created_by: str, key: str
    ) -> tuple[Ticket, bool]:
        """Create once per (`created_by`, `key`); return the ticket and whether it is a replay.

        A retry with the same key and the same request returns the ticket as first
        created and writes nothing. Raises `IdempotencyMismatch` if the key was used
        for a different request.
        """
        fingerprint = request_fingerprint(request)
        now = utc_now()
        with self._connect() as conn, db.transaction(conn):
            conn.execute(
                "DELETE FROM idempotency_keys WHERE created_at < ?",
                (format_timestamp(now - IDEMPOTENCY_RETENTION),),
            )
            row = conn.execute(
                "SELECT fingerprint, response, version FROM idempotency_keys"
                " WHERE owner = ? AND key = ?",
                (created_by, key),
            ).fetchone()
            if row is not None:
                if row["fingerprint"] != fingerprint:
                    raise IdempotencyMismatch(key)
                original = Ticket.model_validate_json(row["response"])
                return original.model_copy(update={"version": row["version"]}), True
            ticket = _insert_ticket(conn, request, created_by=created_by)
            conn.execute(
                "INSERT INTO idempotency_keys (owner, key, fingerprint, ticket_id, response,"
                " version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    created_by,
                    key,
                    fingerprint,
                    ticket.id,
                    ticket.model_dump_json(),
                    ticket.version,
                    format_timestamp(now),
                ),
            )
            return ticket, False

    def get(self, ticket_id: str) -> Ticket:
        """The ticket with this id; raises `TicketNotFound` (also for a malformed id)."""
        with self._connect() as conn:
            return _row_to_ticket(_read_row(conn, ticket_id))

    def list(self, flt: TicketFilter) -> list[Ticket]:
        """The filtered page of tickets, in the filter's order."""
        with self._connect() as conn:
            return _list(conn, flt)

    def count(self, flt: TicketFilter) -> int:
        """How many tickets match the filter, ignoring paging."""
        with self._connect() as conn:
            return _count(conn, flt)

    def page(self, flt: TicketFilter) -> TicketPage:
        """A page and its total, read from one snapshot so they agree; raises `InvalidInput`
        for an `after` that names no ticket."""
        with self._connect() as conn, db.transaction(conn, write=False):
            tickets = _list(conn, flt.model_copy(update={"limit": flt.limit + 1}))
            total = _count(conn, flt)
        page = TicketPage(
            tickets=tickets[: flt.limit], total=total, limit=flt.limit, offset=flt.offset
        )
        if len(tickets) > flt.limit:
            page._next_after = tickets[flt.limit - 1].id
        return page

    def update_state(
        self,
        ticket_id: str,
        new_state: TicketState,
        *,
        actor: str,
        expected_versions: Collection[str] | None = None,
        owner: str | None = None,
    ) -> Ticket:
        """Move a ticket to `new_state` through the state machine, with its audit event.

        `expected_versions` are the versions the caller read; if the ticket has changed
        since, `StaleTicket` is raised instead of overwriting. With `owner`, only a ticket
        created by `owner` may change. Raises `TicketNotFound`, `Forbidden`,
        `InvalidTransition`, `StaleTicket`.
        """
        return self._transition(
            ticket_id,
            lambda _now: new_state,
            actor=actor,
            expected_versions=expected_versions,
            owner=owner,
        )

    def cancel(
        self,
        ticket_id: str,
        *,
        cancelled_by: str,
        reason: str | None,
        owner: str | None = None,
        expected_versions: Collection[str] | None = None,
    ) -> Ticket:
        """Cancel a ticket; raises `TicketNotFound`, `Forbidden`, `InvalidTransition`,
        `StaleTicket`."""
        return self._transition(
            ticket_id,
            lambda now: Cancelled(cancelled_by=cancelled_by, reason=reason, cancelled_at=now),
            actor=cancelled_by,
            owner=owner,
            expected_versions=expected_versions,
        )

    def complete(
        self, ticket_id: str, *, actor: str, expected_versions: Collection[str] | None = None
    ) -> Ticket:
        """Mark a ticket completed; raises `TicketNotFound`, `InvalidTransition`,
        `StaleTicket`."""
        return self._transition(
            ticket_id,
            lambda now: Completed(completed_at=now),
            actor=actor,
            expected_versions=expected_versions,
        )

    def fail(
        self,
        ticket_id: str,
        *,
        error: str,
        actor: str,
        expected_versions: Collection[str] | None = None,
    ) -> Ticket:
        """Mark a ticket failed with `error`; raises `TicketNotFound`, `InvalidTransition`,
        `StaleTicket`."""
        return self._transition(
            ticket_id,
            lambda now: Failed(error=error, failed_at=now),
            actor=actor,
            expected_versions=expected_versions,
        )

    def _transition(
        self,
        ticket_id: str,
        new_state: Callable[[datetime], TicketState],
        *,
        actor: str,
        expected_versions: Collection[str] | None,
        owner: str | None = None,
    ) -> Ticket:
        with self._connect() as conn, db.transaction(conn):
            # The time is read under the write lock, so events are stamped in commit order.
            state = new_state(utc_now())
            row = _read_row(conn, ticket_id)
            if owner is not None and row["created_by"] != owner:
                raise Forbidden(f"ticket {row['id']!r} was created by someone else")
            current_version: str = row["updated_at"]
            if expected_versions is not None and current_version not in expected_versions:
                raise StaleTicket(row["id"])
            current = decode_state(row["state"])
            check_transition(row["id"], current, state)
            # The event's time is the moment the state records, so the log rebuilds it exactly.
            at = state.entered_at() or utc_now()
            new_version = next_timestamp(current_version, at)
            cursor = conn.execute(
                "UPDATE tickets SET state = ?, updated_at = ? WHERE id = ? AND updated_at = ?",
                (encode_state(state), new_version, row["id"], current_version),
            )
            if cursor.rowcount != 1:  # pragma: no cover - the write lock makes this unreachable
                raise StaleTicket(row["id"])
            _record_transition(conn, row["id"], current, state, actor=actor, at=at)
            return _row_to_ticket(row).model_copy(update={"state": state, "version": new_version})


def _read_row(conn: sqlite3.Connection, ticket_id: str) -> sqlite3.Row:
    canonical = canonical_ticket_id(ticket_id)
    row: sqlite3.Row | None = None
    if canonical is not None:
        row = conn.execute(
            f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE id = ?", (canonical,)
        ).fetchone()
    if row is None:
        raise TicketNotFound(ticket_id)
    return row


def list_query(
    flt: TicketFilter, cursor: tuple[int, str, str] | None = None
) -> tuple[str, list[Any]]:
    """The SQL and parameters that list a page of tickets (also used to show query plans).

    `cursor` is the (priority, created_at, id) of the `after` ticket: the page starts
    right after it, found by index seeks however deep it is (an OFFSET steps over every
    skipped entry instead).
    """
    conditions, params = _ticket_conditions(flt)
    order = _ORDER_BY[flt.sort]

    def select(extra: list[str]) -> str:
        where = " AND ".join([*conditions, *extra])
        return (
            f"SELECT {_TICKET_COLUMNS} FROM tickets{' WHERE ' + where if where else ''}"
            f" ORDER BY {order} LIMIT ? OFFSET ?"
        )

    paging = [flt.limit, flt.offset]
    if cursor is None:
        return select([]), [*params, *paging]
    priority, created_at, ticket_id = cursor
    if flt.sort == "newest":
        return select(["(created_at, id) < (?, ?)"]), [*params, created_at, ticket_id, *paging]
    # Queue order: the rest of the cursor's priority, then every lower priority; each
    # part is one index range, and the two are already in order.
    head = [flt.limit + flt.offset, 0]
    sql = (
        f"SELECT * FROM ({select(['priority = ?', '(created_at, id) > (?, ?)'])})"
        f" UNION ALL SELECT * FROM ({select(['priority < ?'])})"
        f" ORDER BY {order} LIMIT ? OFFSET ?"
    )
    return sql, [
        *params, priority, created_at, ticket_id, *head,
        *params, priority, *head,
        *paging,
    ]  # fmt: skip


def _cursor(conn: sqlite3.Connection, after: str) -> tuple[int, str, str]:
    try:
        row = _read_row(conn, after)
    except TicketNotFound:
        raise TicketNotFound(after, parameter="after") from None
    return row["priority"], row["created_at"], row["id"]


def _list(conn: sqlite3.Connection, flt: TicketFilter) -> list[Ticket]:
    cursor = _cursor(conn, flt.after) if flt.after is not None else None
    sql, params = list_query(flt, cursor)
    return [_row_to_ticket(row) for row in conn.execute(sql, params).fetchall()]


def _insert_ticket(
    conn: sqlite3.Connection, request: CreateTicketRequest, *, created_by: str
) -> Ticket:
    now = utc_now()
    stamp = format_timestamp(now)
    ticket = Ticket(
        id=new_ticket_id(),
        created_at=now,
        created_by=created_by,
        state=Pending(),
        priority=request.priority,
        query_context=request.query_context,
        dest_path=request.dest_path,
        version=stamp,
    )
    context = request.query_context.model_dump(mode="json")
    conn.execute(
        f"INSERT INTO tickets ({_TICKET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            ticket.id,
            stamp,
            created_by,
            encode_state(ticket.state),
            ticket.priority,
            json.dumps(context, ensure_ascii=False),
            ticket.dest_path,
            stamp,
        ),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO ticket_tags (tag, ticket_id) VALUES (?, ?)",
        [(tag, ticket.id) for tag in request.query_context.tags],
    )
    audit.record(
        conn,
        AuditEventType.TICKET_CREATED,
        {
            "ticket_id": ticket.id,
            "created_by": created_by,
            "priority": ticket.priority,
            "query_context": context,
            "dest_path": ticket.dest_path,
        },
        actor=created_by,
        at=now,
    )
    return ticket


def _count(conn: sqlite3.Connection, flt: TicketFilter) -> int:
    if not flt.model_dump(exclude=COUNTED_BY_STATE_ONLY, exclude_defaults=True):
        # Filtered by state at most: `ticket_counts`, kept by triggers (migration 7), is one
        # lookup per state at any table size.
        states = sorted(set(flt.state or ()))
        where = f" WHERE state IN ({', '.join('?' * len(states))})" if states else ""
        total: int = conn.execute(
            f"SELECT coalesce(sum(tickets), 0) FROM ticket_counts{where}", states
        ).fetchone()[0]
        return total
    where, params = _ticket_where(flt)
    count: int = conn.execute(f"SELECT count(*) FROM tickets{where}", params).fetchone()[0]
    return count


def _record_transition(
    conn: sqlite3.Connection,
    ticket_id: str,
    previous: TicketState,
    new: TicketState,
    *,
    actor: str,
    at: datetime,
) -> None:
    # The event carries everything needed to rebuild the new state from the log.
    if isinstance(new, Cancelled):
        audit.record(
            conn,
            AuditEventType.TICKET_CANCELLED,
            {
                "ticket_id": ticket_id,
                "cancelled_by": new.cancelled_by,
                "reason": new.reason,
                "previous_state": previous.kind,
            },
            actor=actor,
            at=at,
        )
        return
    audit.record(
        conn,
        AuditEventType.TICKET_STATE_CHANGED,
        {
            "ticket_id": ticket_id,
            "from": previous.kind,
            "to": new.kind,
            "actor": actor,
            "state": new.model_dump(mode="json"),
        },
        actor=actor,
        at=at,
    )


class SqliteAuditLog(_SqliteStorage):
    """Reads the audit log in one SQLite file: a connection per call, or the request's own."""

    def history(self, ticket_id: str, *, visible_to: str | None = None) -> TicketHistory:
        """A ticket's events, oldest first, each with the state after it.

        With `visible_to`, only that user's tickets. Raises `TicketNotFound`,
        `Forbidden`, and `StorageCorrupt` if the log does not describe a possible history.
        """
        with self._connect() as conn, db.transaction(conn, write=False):
            row = _read_row(conn, ticket_id)
            if visible_to is not None and row["created_by"] != visible_to:
                raise Forbidden(f"ticket {row['id']!r} was created by someone else")
            events = audit.ticket_events(conn, row["id"])
        try:
            return history(row["id"], events)
        except HistoryError as error:
            message = f"the audit log of ticket {row['id']!r} is inconsistent: {error}"
            raise StorageCorrupt(message) from error

    def page(self, flt: AuditFilter, *, visible_to: str | None = None) -> AuditPage:
        """A page of events, oldest first, and the total that matches.

        With `visible_to`, only events about tickets that user created are included.
        """
        with self._connect() as conn, db.transaction(conn, write=False):
            more = flt.model_copy(update={"limit": flt.limit + 1})
            events = audit.list_events(conn, more, visible_to=visible_to)
            total = audit.count_events(conn, flt, visible_to=visible_to)
        page = AuditPage(
            events=events[: flt.limit], total=total, limit=flt.limit, offset=flt.offset
        )
        if len(events) > flt.limit:
            page._next_after = events[flt.limit - 1].id
        return page
