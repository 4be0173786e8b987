"""Replaying a ticket's audit events gives back the ticket (unit level, real store)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.audit.events import AuditEvent, AuditEventType
from chalicelib.audit.log import AuditFilter, SqliteAuditLog
from chalicelib.tickets.events import HistoryError, replay
from chalicelib.tickets.model import CreateTicketRequest
from chalicelib.tickets.states import Completed, Failed
from chalicelib.tickets.store import SqliteTicketStore
from tests.helpers import example_ticket


def events_of(audit_log: SqliteAuditLog, ticket_id: str) -> list[AuditEvent]:
    return audit_log.page(AuditFilter(ticket_id=ticket_id, limit=1000)).events


def new_ticket(store: SqliteTicketStore, **overrides: object) -> str:
    request = CreateTicketRequest.model_validate(example_ticket(**overrides))
    return store.create(request, created_by="alice").id


def test_a_new_ticket_replays_to_itself(
    store: SqliteTicketStore, audit_log: SqliteAuditLog
) -> None:
    ticket_id = new_ticket(store, priority=7)
    assert replay(events_of(audit_log, ticket_id)) == store.get(ticket_id)


@pytest.mark.parametrize("ending", ["cancelled", "completed", "failed"])
def test_every_ending_replays_exactly(
    store: SqliteTicketStore, audit_log: SqliteAuditLog, ending: str
) -> None:
    ticket_id = new_ticket(store)
    now = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    if ending == "cancelled":
        store.cancel(ticket_id, cancelled_by="bob", reason='quotes " and \\ and \u00e9')
    elif ending == "completed":
        store.update_state(ticket_id, Completed(completed_at=now), actor="worker")
    else:
        store.update_state(ticket_id, Failed(error="no seeders", failed_at=now), actor="worker")
    rebuilt = replay(events_of(audit_log, ticket_id))
    assert rebuilt == store.get(ticket_id)
    assert rebuilt.state.kind == ending


def event(event_id: int, kind: AuditEventType, **data: object) -> AuditEvent:
    return AuditEvent(
        id=event_id,
        event_type=kind,
        timestamp=datetime(2030, 1, 1, tzinfo=UTC),
        data={"ticket_id": "t1", **data},
    )


CREATED = event(
    1,
    AuditEventType.TICKET_CREATED,
    created_by="alice",
    priority=1,
    query_context={"tags": [], "description": ""},
    dest_path="/x",
)
CANCELLED = event(
    2, AuditEventType.TICKET_CANCELLED, cancelled_by="a", reason=None, previous_state="pending"
)


@pytest.mark.parametrize(
    ("events", "needle"),
    [
        ([], "no events"),
        ([CANCELLED], "starts with ticket_cancelled"),
        ([CREATED, CANCELLED, CANCELLED], "'cancelled'"),
        (
            [CREATED, event(2, AuditEventType.TICKET_CANCELLED, cancelled_by="a", reason=None)],
            "was None",
        ),
        ([CREATED, CANCELLED.model_copy(update={"data": {"ticket_id": "t2"}})], "t2"),
        ([CREATED, event(2, AuditEventType.SERVICE_STARTED)], "not a change"),
        (
            [
                CREATED,
                event(
                    2,
                    AuditEventType.TICKET_STATE_CHANGED,
                    **{"from": "pending", "to": "failed", "state": "completed"},
                ),
            ],
            "unreadable",
        ),
        ([CREATED.model_copy(update={"data": {"ticket_id": "t1"}})], "unreadable ticket_created"),
    ],
)
def test_impossible_histories_are_refused(events: list[AuditEvent], needle: str) -> None:
    with pytest.raises(HistoryError, match=needle):
        replay(events)
