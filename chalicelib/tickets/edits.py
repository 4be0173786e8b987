"""Editing a pending ticket: a JSON Merge Patch applied in one write transaction that
checks who asks and which version they read, writes only the columns and tag rows that
change, and records `ticket_updated` with each change's old and new value."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Collection, Iterable

from chalicelib.audit.events import INSERT_EVENT
from chalicelib.errors import TicketNotPending
from chalicelib.storage import db
from chalicelib.tickets import events as ticket_events
from chalicelib.tickets import idempotency
from chalicelib.tickets.model import Ticket
from chalicelib.tickets.patch import UpdateTicketRequest
from chalicelib.tickets.rows import INSERT_TAG, PathCheck, read_row_to_change, row_to_ticket
from chalicelib.timestamps import next_timestamp, utc_now

# The column each editable field is stored in.
_COLUMNS = {
    "priority": "priority",
    "query_context.tags": "query_context",
    "query_context.description": "query_context",
    "dest_path": "dest_path",
}
_UNTAG = "DELETE FROM ticket_tags WHERE tag = ? AND ticket_id = ?"


def apply_edit(
    conn: sqlite3.Connection,
    ticket_id: str,
    patch: UpdateTicketRequest,
    *,
    actor: str,
    owner: str | None,
    expected_versions: Collection[str] | None,
    check_path: PathCheck | None = None,
) -> Ticket:
    """Edit a ticket inside the caller's write transaction; return it as it now is.

    Checked first, in this order: it exists, `owner` (when given) created it, it still has
    one of the `expected_versions`, and it is pending; then a new `dest_path`, as a create's
    is (`check_path`). A patch that changes nothing writes nothing, not even an event.
    Raises `TicketNotFound`, `Forbidden`, `StaleTicket`, `TicketNotPending`, `InvalidInput`.
    """
    # The time is read under the write lock, so events are stamped in commit order.
    at = utc_now()
    row = read_row_to_change(conn, ticket_id, owner=owner, expected_versions=expected_versions)
    ticket = row_to_ticket(row)
    if not ticket.state.editable:
        raise TicketNotPending(ticket.id, ticket.state.kind)
    changes = patch.changes(ticket)
    if not changes:
        return ticket
    if "dest_path" in changes and check_path is not None:
        check_path(conn, changes["dest_path"][1])
    edited = patch.apply_to(ticket).model_copy(
        update={"version": next_timestamp(ticket.version, at)}
    )
    values = {
        "priority": edited.priority,
        "query_context": json.dumps(
            edited.query_context.model_dump(mode="json"), ensure_ascii=False
        ),
        "dest_path": edited.dest_path,
    }
    columns = _columns(changes)
    conn.execute(
        _update(columns), (*(values[column] for column in columns), edited.version, ticket.id)
    )
    if "query_context.tags" in changes:
        old, new = changes["query_context.tags"]
        _retag(conn, ticket.id, old, new)
    ticket_events.record_updated(conn, ticket.id, changes, actor=actor, at=at)
    return edited


def _columns(fields: Iterable[str]) -> list[str]:
    """The columns that store these fields, in a fixed order."""
    return sorted({_COLUMNS[name] for name in fields})


def _update(columns: Iterable[str]) -> str:
    """The statement that writes these columns of a ticket, and its new version."""
    assignments = ", ".join(f"{column} = ?" for column in columns)
    return f"UPDATE tickets SET {assignments}, updated_at = ? WHERE id = ?"


def _prepared(patch: UpdateTicketRequest) -> tuple[str, ...]:
    """What an edit by `patch` will likely run that changes rows, compiled before the write
    lock (`db.transaction`): the update of every column it sets (those that change, unless
    some are already as it sets them), the tags' statements if it sets them, the event."""
    fields = patch.values()
    tags = (_UNTAG, INSERT_TAG) if "query_context.tags" in fields else ()
    return (_update(_columns(fields)), *tags, INSERT_EVENT) if fields else ()


def _retag(
    conn: sqlite3.Connection, ticket_id: str, old: Iterable[str], new: Iterable[str]
) -> None:
    """Keep `ticket_tags` (what tag search reads) equal to the ticket's new tags: each row
    removed or added is one primary-key lookup, whatever the table's size."""
    before, after = set(old), set(new)
    conn.executemany(_UNTAG, [(tag, ticket_id) for tag in sorted(before - after)])
    conn.executemany(INSERT_TAG, [(tag, ticket_id) for tag in sorted(after - before)])


class EditsTickets:
    """The edit operation of the ticket store (`SqliteTicketStore`), on its connection."""

    conn: sqlite3.Connection
    check_path: PathCheck | None  # where a ticket may go; see `write_ticket`

    def edit(
        self,
        ticket_id: str,
        patch: UpdateTicketRequest,
        *,
        actor: str,
        owner: str | None = None,
        expected_versions: Collection[str] | None = None,
        key: str | None = None,
    ) -> tuple[Ticket, bool]:
        """Edit a pending ticket and record `ticket_updated`, in one transaction (see
        `apply_edit`: a patch that changes nothing writes nothing); return the ticket and
        whether this is a replay. With a `key`, once per (`actor`, `key`) (see
        `idempotency.once`, which raises `IdempotencyMismatch`)."""
        change = functools.partial(
            apply_edit,
            self.conn,
            ticket_id,
            patch,
            actor=actor,
            owner=owner,
            expected_versions=expected_versions,
            check_path=self.check_path,
        )
        if key is None:
            with db.transaction(self.conn, prepared=_prepared(patch)):
                return change(), False
        fingerprint = idempotency.edit_fingerprint(ticket_id, patch)
        return idempotency.once(
            self.conn,
            owner=actor,
            key=key,
            fingerprint=fingerprint,
            change=change,
            prepared=_prepared(patch),
        )
