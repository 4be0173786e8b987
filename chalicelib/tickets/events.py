"""A ticket's events: what each one records, written and read back here, in one place.

Every change to a ticket commits together with an event that carries everything needed
to redo it, so folding a ticket's events, oldest first, gives back the ticket exactly as
the `tickets` table holds it: its history, and the consistency check's replay.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.audit.events import AuditEvent, AuditEventType, record
from chalicelib.errors import InvalidTransition
from chalicelib.tickets.model import CreateTicketRequest, QueryContext, Ticket, WireState
from chalicelib.tickets.patch import UpdateTicketRequest, editable_values
from chalicelib.tickets.states import (
    STATE_CLASSES,
    Pending,
    TicketState,
    check_transition,
    state_from_parts,
    state_from_wire,
)

# A move into a state is `ticket_state_changed`, unless the state declares an event of its
# own (the seed's `ticket_cancelled`): that one carries the state's fields flat, without
# its time (the event's own), and the state it left. An edit is `ticket_updated`.
CHANGED = AuditEventType.TICKET_STATE_CHANGED
_ENTERED_BY = {cls.event: cls for cls in STATE_CLASSES.values() if cls.event is not CHANGED}
TICKET_EVENTS = frozenset(
    {AuditEventType.TICKET_CREATED, CHANGED, AuditEventType.TICKET_UPDATED, *_ENTERED_BY}
)


def created_data(ticket_id: str, created_by: str, request: CreateTicketRequest) -> dict[str, Any]:
    """The data of a new ticket's `ticket_created` event (its time is the ticket's
    `created_at`, its actor the creator)."""
    return {
        "ticket_id": ticket_id,
        "created_by": created_by,
        "priority": request.priority,
        "query_context": request.query_context.model_dump(mode="json"),
        "dest_path": request.dest_path,
    }


def record_transition(
    conn: sqlite3.Connection,
    ticket_id: str,
    previous: TicketState,
    new: TicketState,
    *,
    actor: str,
    at: datetime,
) -> None:
    """Record a ticket's move to `new`: the event its state declares (`ticket_cancelled`),
    or `ticket_state_changed`."""
    if new.event is not CHANGED:
        data: dict[str, Any] = {
            "ticket_id": ticket_id,
            **{name: value for name, value in new.fields().items() if not name.endswith("_at")},
            "previous_state": previous.kind,
        }
        record(conn, new.event, data, actor=actor, at=at)
        return
    data = {
        "ticket_id": ticket_id,
        "from": previous.kind,
        "to": new.kind,
        "actor": actor,
        "state": new.model_dump(mode="json"),
    }
    record(conn, AuditEventType.TICKET_STATE_CHANGED, data, actor=actor, at=at)


def record_updated(
    conn: sqlite3.Connection,
    ticket_id: str,
    changes: Mapping[str, tuple[Any, Any]],
    *,
    actor: str,
    at: datetime,
) -> None:
    """Record `ticket_updated`: who edited the ticket, and each changed field's old and new
    value (by dotted name: `priority`, `query_context.tags`, ...)."""
    data = {
        "ticket_id": ticket_id,
        "actor": actor,
        "changes": {name: {"old": old, "new": new} for name, (old, new) in changes.items()},
    }
    record(conn, AuditEventType.TICKET_UPDATED, data, actor=actor, at=at)


class HistoryEntry(BaseModel):
    """One event in a ticket's life and the state the ticket was in after it."""

    model_config = ConfigDict(frozen=True)

    event: AuditEvent
    state: WireState


class TicketHistory(BaseModel):
    """A ticket's whole life, oldest first, rebuilt from the audit log."""

    model_config = ConfigDict(frozen=True)

    ticket_id: str
    entries: list[HistoryEntry]


class HistoryError(ValueError):
    """A ticket's events do not describe a possible history."""


def ticket_from_created(event: AuditEvent) -> Ticket:
    """The pending ticket a `ticket_created` event describes; raises `HistoryError`."""
    if event.event_type is not AuditEventType.TICKET_CREATED:
        raise HistoryError(
            f"event {event.id}: history starts with {event.event_type.value}, not ticket_created"
        )
    data = event.data
    try:
        return Ticket(
            id=data["ticket_id"],
            created_at=event.timestamp,
            created_by=data["created_by"],
            state=Pending(),
            priority=data["priority"],
            query_context=QueryContext.model_validate(data["query_context"]),
            dest_path=data["dest_path"],
        )
    except (KeyError, TypeError, ValueError, ValidationError) as error:
        raise HistoryError(f"event {event.id}: unreadable ticket_created data: {error}") from None


def apply_event(ticket: Ticket, event: AuditEvent) -> Ticket:
    """The ticket after one more of its events; raises `HistoryError`."""
    data = event.data
    if data.get("ticket_id") != ticket.id:
        raise HistoryError(f"event {event.id} belongs to ticket {data.get('ticket_id')!r}")
    if event.event_type is AuditEventType.TICKET_UPDATED:
        return _edited(ticket, event)
    new_state = _state_after(event, data)
    previous = data.get("previous_state", data.get("from"))
    if previous != ticket.state.kind:
        raise HistoryError(
            f"event {event.id} says the ticket was {previous!r}, "
            f"but its history says {ticket.state.kind!r}"
        )
    try:
        check_transition(ticket.id, ticket.state, new_state)
    except InvalidTransition as error:
        raise HistoryError(f"event {event.id}: {error.message}") from None
    return ticket.model_copy(update={"state": new_state})


def _edited(ticket: Ticket, event: AuditEvent) -> Ticket:
    """The ticket after a `ticket_updated` event: only while it could be edited, and only
    from the values it had; raises `HistoryError`."""
    if not ticket.state.editable:
        raise HistoryError(f"event {event.id}: an edit while the ticket was {ticket.state.kind}")
    try:
        changes = event.data["changes"]
        current = editable_values(ticket)
        olds = {name: change["old"] for name, change in changes.items()}
        patch = UpdateTicketRequest.from_values(
            {name: change["new"] for name, change in changes.items()}
        )
    except (KeyError, TypeError, AttributeError, ValueError, ValidationError) as error:
        raise HistoryError(f"event {event.id}: unreadable ticket_updated data: {error}") from None
    if not olds:
        raise HistoryError(f"event {event.id}: ticket_updated records no change")
    for name, old in olds.items():
        if name not in current or current[name] != old:
            raise HistoryError(
                f"event {event.id} says {name} was {old!r}, "
                f"but its history says {current.get(name)!r}"
            )
    return patch.apply_to(ticket)


def _state_after(event: AuditEvent, data: dict[str, Any]) -> TicketState:
    kind = event.event_type
    if kind is not CHANGED and kind not in _ENTERED_BY:
        raise HistoryError(f"event {event.id}: {kind.value} is not a change to a ticket")
    try:
        if kind is not CHANGED:
            # An event of the state's own has no time in its data: the move is the event's.
            entered = _ENTERED_BY[kind]
            fields = {
                name: event.timestamp if name.endswith("_at") else data[name]
                for name in entered.model_fields
            }
            return state_from_parts(entered.kind, fields)
        state = state_from_wire(data["state"])
        to = data["to"]
    except (KeyError, TypeError, ValueError, ValidationError) as error:
        raise HistoryError(f"event {event.id}: unreadable {kind.value} data: {error}") from None
    if state.kind != to:
        raise HistoryError(f"event {event.id}: 'to' is {to!r} but the state is {state.kind!r}")
    return state


def _fold(events: Iterable[AuditEvent]) -> list[tuple[AuditEvent, Ticket]]:
    """Each event with the ticket as it stood after it; raises `HistoryError`."""
    steps: list[tuple[AuditEvent, Ticket]] = []
    for event in events:
        ticket = ticket_from_created(event) if not steps else apply_event(steps[-1][1], event)
        steps.append((event, ticket))
    if not steps:
        raise HistoryError("no events: a ticket's history starts with ticket_created")
    return steps


def history(ticket_id: str, events: Iterable[AuditEvent]) -> TicketHistory:
    """Each of a ticket's events with the state after it; raises `HistoryError`."""
    entries = [HistoryEntry(event=event, state=ticket.state) for event, ticket in _fold(events)]
    return TicketHistory(ticket_id=ticket_id, entries=entries)


def replay(events: Iterable[AuditEvent]) -> Ticket:
    """Rebuild a ticket from all of its events, oldest first; raises `HistoryError`."""
    return _fold(events)[-1][1]
