"""The ticket model, its wire format and the state machine, without a database."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.errors import InvalidTransition
from chalicelib.tickets.listing import TicketFilter
from chalicelib.tickets.model import (
    CreateTicketRequest,
    QueryContext,
    Ticket,
    canonical_ticket_id,
    new_ticket_id,
)
from chalicelib.tickets.states import (
    ALLOWED_TRANSITIONS,
    STATE_NAMES,
    Cancelled,
    CancelTicketRequest,
    Completed,
    Failed,
    Pending,
    TicketState,
    check_transition,
    decode_state,
    encode_state,
    state_from_wire,
)
from chalicelib.timestamps import format_timestamp, next_timestamp, parse_timestamp
from tests.helpers import example_ticket

MOMENT = datetime(2024, 12, 25, 10, 0, 0, tzinfo=UTC)


def all_states() -> list[TicketState]:
    return [
        Pending(),
        Cancelled(cancelled_by="alice", reason="No longer needed", cancelled_at=MOMENT),
        Completed(completed_at=MOMENT),
        Failed(error="no seeders", failed_at=MOMENT),
    ]


def make_ticket(state: TicketState) -> Ticket:
    return Ticket(
        id=new_ticket_id(),
        created_at=MOMENT,
        created_by="anonymous",
        state=state,
        priority=100,
        query_context=QueryContext(tags=["music"], description="Abbey Road"),
        dest_path="/media/music",
    )


def test_pending_is_the_only_non_terminal_state() -> None:
    terminal = {state.kind: state.is_terminal() for state in all_states()}
    assert terminal == {"pending": False, "cancelled": True, "completed": True, "failed": True}


def test_only_pending_can_be_cancelled() -> None:
    cancellable = {state.kind: state.can_cancel() for state in all_states()}
    assert cancellable == {
        "pending": True,
        "cancelled": False,
        "completed": False,
        "failed": False,
    }


def test_ticket_delegates_terminal_and_cancel_checks_to_its_state() -> None:
    assert not make_ticket(Pending()).is_terminal()
    assert make_ticket(Pending()).can_cancel()
    done = make_ticket(Completed(completed_at=MOMENT))
    assert done.is_terminal()
    assert not done.can_cancel()


def test_transition_table_covers_every_state() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(STATE_NAMES)
    for targets in ALLOWED_TRANSITIONS.values():
        assert targets <= set(STATE_NAMES)


@pytest.mark.parametrize("current", all_states(), ids=lambda s: s.kind)
@pytest.mark.parametrize("new", all_states(), ids=lambda s: s.kind)
def test_check_transition_follows_the_table(current: TicketState, new: TicketState) -> None:
    if new.kind in ALLOWED_TRANSITIONS[current.kind]:
        check_transition("t1", current, new)
    else:
        with pytest.raises(InvalidTransition) as raised:
            check_transition("t1", current, new)
        assert raised.value.from_state == current.kind
        assert raised.value.to_state == new.kind


def test_wire_format_matches_the_seed() -> None:
    ticket = make_ticket(Pending())
    wire = json.loads(ticket.model_dump_json())
    assert wire["state"] == "pending"
    assert wire["created_at"] == "2024-12-25T10:00:00.000000Z"
    assert set(wire) == {
        "id",
        "created_at",
        "created_by",
        "state",
        "priority",
        "query_context",
        "dest_path",
    }
    cancelled = make_ticket(all_states()[1])
    assert json.loads(cancelled.model_dump_json())["state"] == {
        "cancelled": {
            "cancelled_by": "alice",
            "reason": "No longer needed",
            "cancelled_at": "2024-12-25T10:00:00.000000Z",
        }
    }
    assert json.loads(make_ticket(all_states()[2]).model_dump_json())["state"] == {
        "completed": {"completed_at": "2024-12-25T10:00:00.000000Z"}
    }
    assert json.loads(make_ticket(all_states()[3]).model_dump_json())["state"] == {
        "failed": {"error": "no seeders", "failed_at": "2024-12-25T10:00:00.000000Z"}
    }


@pytest.mark.parametrize("text", ['{"type":"pending"}', '{ "type" : "pending" }'])
def test_a_pending_state_stored_in_another_spelling_still_decodes(text: str) -> None:
    assert decode_state(text) == Pending()


@pytest.mark.parametrize("state", all_states(), ids=lambda s: s.kind)
def test_state_round_trips_through_storage_and_wire(state: TicketState) -> None:
    stored = json.loads(encode_state(state))
    assert stored["type"] == state.kind
    assert decode_state(encode_state(state)) == state
    assert state_from_wire(state.model_dump(mode="json")) == state
    ticket = make_ticket(state)
    assert Ticket.model_validate_json(ticket.model_dump_json()) == ticket


@pytest.mark.parametrize("value", ["running", {"cancelled": {}}, {"a": {}, "b": {}}, 3])
def test_state_from_wire_rejects_nonsense(value: Any) -> None:
    with pytest.raises(ValueError):
        state_from_wire(value)


def test_timestamps_are_utc_with_z_and_sort_as_text() -> None:
    earlier = datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)
    later = earlier + timedelta(microseconds=500_000)
    assert format_timestamp(earlier) == "2024-01-01T00:00:00.000000Z"
    assert format_timestamp(earlier) < format_timestamp(later)
    plus_two = datetime(2024, 1, 1, 2, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(plus_two) == "2024-01-01T00:00:00.000000Z"
    assert parse_timestamp(format_timestamp(later)) == later


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000000Z"),
        (datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC), "0999-12-31T23:59:59.000000Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_timestamps_keep_four_year_digits_so_early_years_sort_first(
    moment: datetime, text: str
) -> None:
    assert format_timestamp(moment) == text
    assert parse_timestamp(text) == moment
    assert (format_timestamp(moment) < "2026") == (moment.year < 2026)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_timestamp_outside_the_utc_range_is_refused_not_a_crash(text: str) -> None:
    with pytest.raises(ValidationError, match="outside years 1 to 9999"):
        TicketFilter.model_validate({"created_after": text})


@given(st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC)))
def test_timestamp_text_order_is_time_order(first: datetime, second: datetime) -> None:
    assert (format_timestamp(first) < format_timestamp(second)) == (first < second)
    assert parse_timestamp(format_timestamp(first)) == first


def test_next_timestamp_is_strictly_later_even_when_the_clock_is_not() -> None:
    previous = "2024-01-01T00:00:00.000005Z"
    assert next_timestamp(previous, datetime(2023, 1, 1, tzinfo=UTC)) == (
        "2024-01-01T00:00:00.000006Z"
    )
    assert next_timestamp(previous, MOMENT) == format_timestamp(MOMENT)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValidationError):
        Completed(completed_at=datetime(2024, 1, 1))


def test_ticket_ids_are_uuids_and_malformed_ones_are_recognised() -> None:
    ticket_id = new_ticket_id()
    assert canonical_ticket_id(ticket_id) == ticket_id
    assert canonical_ticket_id(ticket_id.upper()) == ticket_id
    assert canonical_ticket_id("not-a-uuid") is None
    assert canonical_ticket_id("{" + ticket_id[:-2] + "}") is None


def _parsed_as_a_uuid(text: str) -> str | None:
    """What `canonical_ticket_id` means: the text read as a UUID (36 characters)."""
    try:
        return str(uuid.UUID(text)) if len(text) == 36 else None
    except ValueError:
        return None


UUID_LIKE = st.text(alphabet="0123456789abcdefABCDEF-{}xg \n", min_size=30, max_size=40)


@given(UUID_LIKE | st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper()))
def test_a_ticket_id_is_canonical_exactly_when_it_reads_as_a_uuid(text: str) -> None:
    assert canonical_ticket_id(text) == _parsed_as_a_uuid(text)


def test_a_valid_create_request_parses() -> None:
    request = CreateTicketRequest.model_validate(example_ticket())
    assert request.priority == 100
    assert request.query_context.tags == ["music", "flac"]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"priority": "100"}, "priority"),
        ({"priority": 1.5}, "priority"),
        ({"priority": True}, "priority"),
        ({"priority": -1}, "priority"),
        ({"priority": 65_536}, "priority"),
        ({"priority": None}, "priority"),
        ({"dest_path": ""}, "dest_path"),
        ({"dest_path": "relative/path"}, "dest_path"),
        ({"dest_path": "/media/../etc"}, "dest_path"),
        ({"dest_path": "/media/a\x00b"}, "dest_path"),
        ({"dest_path": "/" + "a" * 4096}, "dest_path"),
        ({"query_context": {"tags": "music", "description": ""}}, "query_context.tags"),
        ({"query_context": {"tags": [1], "description": ""}}, "query_context.tags.0"),
        ({"query_context": {"tags": [""], "description": ""}}, "query_context.tags.0"),
        ({"query_context": {"tags": ["x" * 101], "description": ""}}, "query_context.tags.0"),
        ({"query_context": {"tags": ["t"] * 101, "description": ""}}, "query_context.tags"),
        ({"query_context": {"tags": [], "description": "d" * 10_001}}, "query_context.description"),
        ({"query_context": {"tags": [], "description": "\ud800"}}, "query_context.description"),
        ({"query_context": {"tags": []}}, "query_context.description"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_create_request_rejects_bad_fields(override: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        CreateTicketRequest.model_validate(example_ticket(**override))
    locations = {".".join(str(p) for p in e["loc"]) for e in raised.value.errors()}
    assert field in locations


def test_create_request_accepts_the_bounds() -> None:
    body = example_ticket(
        priority=65_535,
        dest_path="/" + "a" * 4095,
        query_context={"tags": ["t" * 100] * 100, "description": "d" * 10_000},
    )
    assert CreateTicketRequest.model_validate(body).priority == 65_535
    assert CreateTicketRequest.model_validate(example_ticket(priority=0)).priority == 0


def test_cancel_request_reason_is_optional_but_must_be_text() -> None:
    assert CancelTicketRequest().reason is None
    assert CancelTicketRequest.model_validate({"reason": "done"}).reason == "done"
    with pytest.raises(ValidationError):
        CancelTicketRequest.model_validate({"reason": 5})
    with pytest.raises(ValidationError):
        CancelTicketRequest.model_validate({"why": "x"})
