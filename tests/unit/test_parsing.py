"""Raw request input to models: bodies and query strings, with errors naming the field."""

from __future__ import annotations

import json

import pytest

from chalicelib.api.errors import BodyTooLarge, UnsupportedMediaType
from chalicelib.api.parsing import MAX_BODY_BYTES, parse_body, parse_optional_body, parse_query
from chalicelib.audit.events import AuditEventType
from chalicelib.audit.log import AuditFilter
from chalicelib.errors import InvalidInput
from chalicelib.tickets.listing import TicketFilter
from chalicelib.tickets.model import CreateTicketRequest
from chalicelib.tickets.states import CancelTicketRequest
from tests.helpers import example_ticket

JSON = "application/json"


def test_parse_body_accepts_a_valid_ticket() -> None:
    raw = json.dumps(example_ticket()).encode()
    assert parse_body(CreateTicketRequest, raw, JSON).dest_path == "/media/music/beatles"
    assert parse_body(CreateTicketRequest, raw, "application/json; charset=utf-8").priority == 100


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"", "body is required"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b'{"priority": 1}', "'query_context' is required"),
        (json.dumps(example_ticket(priority="high")).encode(), "'priority'"),
        (json.dumps(example_ticket(extra=1)).encode(), "unknown field 'extra'"),
        (b'{"dest_path": "\\ud800"}', "not valid JSON"),
        (b'{"dest_path": "\xff"}', "not valid JSON"),
    ],
)
def test_parse_body_names_what_is_wrong(raw: bytes, needle: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_body(CreateTicketRequest, raw, JSON)
    assert needle in raised.value.message
    assert raised.value.details


def test_parse_body_refuses_oversized_and_non_json_bodies() -> None:
    with pytest.raises(BodyTooLarge):
        parse_body(CreateTicketRequest, b" " * (MAX_BODY_BYTES + 1), JSON)
    with pytest.raises(UnsupportedMediaType):
        parse_body(CreateTicketRequest, json.dumps(example_ticket()).encode(), "text/plain")
    with pytest.raises(UnsupportedMediaType):
        parse_body(CreateTicketRequest, json.dumps(example_ticket()).encode(), None)


def test_optional_body_may_be_absent() -> None:
    assert parse_optional_body(CancelTicketRequest, b"", None).reason is None
    assert parse_optional_body(CancelTicketRequest, b"{}", JSON).reason is None
    assert parse_optional_body(CancelTicketRequest, b'{"reason": "x"}', JSON).reason == "x"
    with pytest.raises(InvalidInput, match="'reason'"):
        parse_optional_body(CancelTicketRequest, b'{"reason": 1}', JSON)


def test_parse_query_defaults_and_values() -> None:
    assert parse_query(TicketFilter, {}, integers=("limit", "offset")) == TicketFilter()
    flt = parse_query(
        TicketFilter,
        {"state": ["pending"], "limit": ["10"], "offset": ["20"]},
        integers=("limit", "offset"),
    )
    assert (flt.state, flt.limit, flt.offset) == (["pending"], 10, 20)
    audit = parse_query(AuditFilter, {"event_type": ["ticket_created"]}, integers=("limit",))
    assert audit.event_type == [AuditEventType.TICKET_CREATED]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": ["0"]}, "limit"),
        ({"limit": ["1001"]}, "limit"),
        ({"limit": ["-1"]}, "limit"),
        ({"limit": ["1.5"]}, "limit"),
        ({"limit": ["ten"]}, "limit"),
        ({"limit": [""]}, "limit"),
        ({"limit": [" 10"]}, "limit"),
        ({"limit": ["1_000"]}, "limit"),
        ({"offset": ["-5"]}, "offset"),
        ({"offset": ["1" * 31]}, "offset"),
        ({"state": ["running"]}, "state"),
        ({"limit": ["1", "2"]}, "limit"),
        ({"status": ["pending"]}, "status"),
    ],
)
def test_parse_query_names_the_bad_parameter(params: dict[str, list[str]], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_query(TicketFilter, params, integers=("limit", "offset"))
    assert field in raised.value.message
    assert raised.value.details[0]["field"] == field
