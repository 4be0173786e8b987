"""The states' declarations hold together, without a database: each move's body fills its
state's fields, its inputs are the body's fields, a move builds the state it declares, and
the routes and events the declarations give are each one of a kind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.audit.events import AuditEventType
from chalicelib.tickets.moves import Move
from chalicelib.tickets.states import (
    ALLOWED_TRANSITIONS,
    MOVES,
    STATE_CLASSES,
    Cancelled,
    Completed,
    Failed,
    Pending,
)

TICKET_STATE_CHANGED = AuditEventType.TICKET_STATE_CHANGED
MOMENT = datetime(2024, 12, 25, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind", sorted(MOVES))
def test_a_moves_body_gives_its_states_own_fields(kind: str) -> None:
    move = MOVES[kind]
    own = {n for n in STATE_CLASSES[kind].model_fields if not n.endswith(("_by", "_at"))}
    body = set(move.body.model_fields) if move.body is not None else set()
    assert body == own
    assert [given.name for given in move.inputs] == list(
        move.body.model_fields if move.body else ()
    )


def test_a_move_builds_the_state_it_declares() -> None:
    entered = Cancelled.entered(actor="bob", at=MOMENT, body={"reason": "changed my mind"})
    assert entered == Cancelled(cancelled_by="bob", reason="changed my mind", cancelled_at=MOMENT)
    assert Cancelled.entered(actor="bob", at=MOMENT, body={}).reason is None
    assert Completed.entered(actor="alice", at=MOMENT, body={}) == Completed(completed_at=MOMENT)
    failed = Failed.entered(actor="alice", at=MOMENT, body={"error": "no seeders"})
    assert failed == Failed(error="no seeders", failed_at=MOMENT)
    with pytest.raises(ValueError):
        Failed.entered(actor="alice", at=MOMENT, body={})  # a failure needs its error


def test_a_state_records_when_it_was_entered() -> None:
    assert Pending().entered_at() is None
    assert Completed(completed_at=MOMENT).entered_at() == MOMENT
    assert Cancelled(cancelled_by="a", cancelled_at=MOMENT).entered_at() == MOMENT


def test_each_move_has_its_own_route_and_operation() -> None:
    routes = [(move.method, move.route) for move in MOVES.values()]
    assert len(set(routes)) == len(routes)
    verbs = [move.verb for move in MOVES.values()]
    assert len(set(verbs)) == len(verbs)
    # The seed's routes stay whatever states are added.
    assert {
        ("DELETE", "/api/v1/tickets/{ticket_id}"),
        ("POST", "/api/v1/tickets/{ticket_id}/complete"),
        ("POST", "/api/v1/tickets/{ticket_id}/fail"),
    } <= set(routes)


@pytest.mark.parametrize("kind", sorted(MOVES))
def test_a_route_needs_a_body_when_the_body_has_a_required_field(kind: str) -> None:
    move = MOVES[kind]
    fields = move.body.model_fields.values() if move.body else ()
    assert move.body_required == any(field.is_required() for field in fields)


def test_the_seeds_moves_take_the_seeds_bodies() -> None:
    assert not MOVES["cancelled"].body_required  # DELETE with or without a reason
    assert not MOVES["completed"].body_required
    assert MOVES["failed"].body_required
    assert Move(verb="x", who="admin", summary="", button="").route.endswith("/{ticket_id}/x")


def test_each_state_a_move_leads_to_can_be_reached() -> None:
    reached = set().union(*ALLOWED_TRANSITIONS.values())
    assert set(MOVES) <= reached
    # A state no move leads to is one no ticket can reach but the one tickets start in.
    assert set(STATE_CLASSES) - reached == {Pending.kind}


def test_an_event_of_a_states_own_is_one_of_a_kind() -> None:
    assert Cancelled.event is AuditEventType.TICKET_CANCELLED  # the seed's
    own = [c.event for c in STATE_CLASSES.values() if c.event is not TICKET_STATE_CHANGED]
    assert len(set(own)) == len(own)
    assert AuditEventType.TICKET_CREATED not in own
