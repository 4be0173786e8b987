"""A page's items, and a GET's ticket, are written by SQLite (`rows.TICKET_JSON`,
`events.EVENT_JSON`), not by their models: for any ticket and any event the API can
store, that JSON is byte for byte what the model writes for the same row
(`to_json(row_to_ticket(row))`, `to_json(row_to_event(row))`), so an answer reads the
same whichever wrote it."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import to_json

from chalicelib.audit import events
from chalicelib.audit.events import AuditEventType, fix_item_json, row_to_event
from chalicelib.audit.log import AuditFilter
from chalicelib.service.unit_of_work import Storage, open_storage
from chalicelib.storage import migrations
from chalicelib.tickets.listing import TicketFilter
from chalicelib.tickets.model import CreateTicketRequest
from chalicelib.tickets.rows import PAGE_COLUMNS, TICKET_COLUMNS, row_to_ticket, ticket_from_json
from chalicelib.tickets.states import STATE_CLASSES, TicketState, state_from_parts

# Text as people type it, and as attackers do: quotes, backslashes, control characters,
# line and paragraph separators, accents, emoji, and digits followed by an `e`.
TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"])
    | st.sampled_from(['"', "\\", "\n", "\x00", "\x1f", "\x7f", "\u2028", "é", "🎵", "1", "e"]),
    max_size=40,
)
TIMES = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@pytest.fixture(scope="module")
def storage() -> Iterator[Storage]:
    """One database for every example of the module (each example adds its rows)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "torrentino.db"
        migrations.migrate(path)
        with open_storage(path) as opened:
            yield opened


def _request(draw: st.DrawFn) -> CreateTicketRequest:
    """A valid request, each field drawn until the API accepts it (else a plain value)."""
    body: dict[str, Any] = {
        "priority": draw(st.integers(0, 1000) | st.sampled_from([0, 1000])),
        "query_context": {"tags": [], "description": "x"},
        "dest_path": "/media/x",
    }
    drawn = {
        ("query_context", "tags"): draw(st.lists(TEXT, max_size=4)),
        ("query_context", "description"): draw(TEXT),
        ("dest_path",): "/media/" + draw(TEXT),
    }
    for path, value in drawn.items():
        tried = {**body, "query_context": dict(body["query_context"])}
        if len(path) == 2:
            tried["query_context"][path[1]] = value
        else:
            tried[path[0]] = value
        try:
            CreateTicketRequest.model_validate(tried)
        except ValidationError:
            continue
        body = tried
    return CreateTicketRequest.model_validate(body)


def _state(draw: st.DrawFn) -> TicketState | None:
    """A state a ticket may move to, with any fields its model accepts (None: pending)."""
    cls = draw(st.sampled_from(list(STATE_CLASSES.values())))
    if cls.kind == "pending":
        return None
    fields: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        text = str(field.annotation)
        value: Any = draw(TIMES) if "datetime" in text else draw(TEXT)
        if "None" in text and draw(st.booleans()):
            value = None
        fields[name] = value
    try:
        return state_from_parts(cls.kind, fields)
    except ValueError:
        return None


@st.composite
def tickets(draw: st.DrawFn) -> tuple[CreateTicketRequest, TicketState | None]:
    return _request(draw), _state(draw)


def _page_rows(conn: sqlite3.Connection, sql: str, *params: object) -> list[sqlite3.Row]:
    return conn.execute(sql, params).fetchall()


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tickets())
def test_a_tickets_json_from_sqlite_is_its_models(
    storage: Storage, given_ticket: tuple[CreateTicketRequest, TicketState | None]
) -> None:
    request, state = given_ticket
    ticket = storage.tickets.create(request, created_by="alice")
    if state is not None:
        ticket = storage.tickets.update_state(ticket.id, state, actor="root")
    [row] = _page_rows(
        storage.connection,
        f"SELECT {PAGE_COLUMNS}, {TICKET_COLUMNS} FROM tickets WHERE id = ?",
        ticket.id,
    )
    assert row["json"] == to_json(row_to_ticket(row)) == to_json(ticket)
    built = ticket_from_json(row["json"], row["updated_at"])
    assert (built, built.version) == (row_to_ticket(row), ticket.version)
    # What GET answers: the same JSON, as text, with the version for its ETag.
    assert storage.tickets.get_json(ticket.id.upper()) == (row["json"].decode(), ticket.version)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(TEXT, JSON_VALUES, max_size=5), st.sampled_from(list(AuditEventType)))
@example(  # every form Python writes a float in: exponents of two and three digits, signs
    {"duration_seconds": 1.2e-05, "v": [1e16, 5e-324, -1.7976931348623157e308, -0.0, 0.1, 2.0]},
    AuditEventType.BACKUP_CREATED,
)
@example({"smallest": 5e-324}, AuditEventType.BACKUP_CREATED)  # each alone: the event's
@example({"largest": [1e300]}, AuditEventType.BACKUP_CREATED)  # other numbers cannot hide it
@example({"ticket_id": "0a1b2c3e-4567-4e89-ae12-3e45e6e7e890"}, AuditEventType.TICKET_CREATED)
def test_an_events_json_from_sqlite_is_its_models(
    storage: Storage, data: dict[str, Any], event_type: AuditEventType
) -> None:
    with storage.connection:
        event_id = events.record(
            storage.connection, event_type, data, actor="root", at=datetime.now(UTC)
        )
    [row] = _page_rows(
        storage.connection,
        f"SELECT {events.PAGE_COLUMNS}, event_type, timestamp, data FROM audit_events WHERE id = ?",
        event_id,
    )
    assert fix_item_json(row["json"]) == to_json(row_to_event(row))


def test_pages_read_as_json_build_the_same_items(storage: Storage) -> None:
    """What a page's items are when asked for: the models the rows give."""
    page = storage.tickets.page(TicketFilter(limit=1000))
    assert page.tickets == storage.tickets.list(TicketFilter(limit=1000))
    assert [t.version for t in page.tickets] == [
        t.version for t in storage.tickets.list(TicketFilter(limit=1000))
    ]
    audit = storage.audit_log.page(AuditFilter(limit=1000))
    assert [to_json(e) for e in audit.events] == [
        to_json(row_to_event(row))
        for row in storage.connection.execute(
            "SELECT id, event_type, timestamp, data FROM audit_events ORDER BY timestamp, id"
            " LIMIT 1000"
        )
    ]
