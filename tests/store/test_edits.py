"""Editing a pending ticket on a real SQLite file: the row, its tag rows and its
`ticket_updated` event change together, or nothing does."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from chalicelib.audit.events import AuditEventType
from chalicelib.audit.log import AuditFilter, SqliteAuditLog
from chalicelib.backups.check import check_database
from chalicelib.errors import Forbidden, IdempotencyMismatch, StaleTicket, TicketNotPending
from chalicelib.tickets.history import read_history
from chalicelib.tickets.listing import TicketFilter
from chalicelib.tickets.model import CreateTicketRequest, Ticket
from chalicelib.tickets.patch import UpdateTicketRequest
from chalicelib.tickets.states import Completed, Failed, TicketState
from chalicelib.tickets.store import SqliteTicketStore
from chalicelib.timestamps import utc_now
from tests.helpers import example_ticket, row_counts
from tests.store.test_store import refuse_audit_writes


def create(store: SqliteTicketStore, created_by: str = "alice", **overrides: Any) -> Ticket:
    request = CreateTicketRequest.model_validate(example_ticket(**overrides))
    return store.create(request, created_by=created_by)


def patch(**fields: Any) -> UpdateTicketRequest:
    return UpdateTicketRequest.model_validate(fields)


def tag_rows(db_path: Path, ticket_id: str) -> list[str]:
    """What tag search reads for one ticket: its `ticket_tags` rows."""
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(
            "SELECT tag FROM ticket_tags WHERE ticket_id = ? ORDER BY tag", (ticket_id,)
        ).fetchall()
    finally:
        conn.close()
    return [row[0] for row in rows]


def updates(audit_log: SqliteAuditLog) -> list[dict[str, Any]]:
    page = audit_log.page(AuditFilter(event_type=[AuditEventType.TICKET_UPDATED], limit=1000))
    return [event.data for event in page.events]


def ids(store: SqliteTicketStore, **filters: Any) -> list[str]:
    return [t.id for t in store.list(TicketFilter.model_validate({"limit": 1000, **filters}))]


def test_an_edit_changes_each_field_and_records_its_old_and_new_value(
    store: SqliteTicketStore, audit_log: SqliteAuditLog, db_path: Path
) -> None:
    ticket = create(store)
    edited, replayed = store.edit(
        ticket.id,
        patch(
            priority=7,
            query_context={"tags": ["music", "mp3"], "description": "Let It Be"},
            dest_path="/media/music/let-it-be",
        ),
        actor="bob",
    )
    assert not replayed
    assert (edited.priority, edited.dest_path) == (7, "/media/music/let-it-be")
    assert edited.query_context.model_dump() == {
        "tags": ["music", "mp3"],
        "description": "Let It Be",
    }
    assert store.get(ticket.id) == edited
    assert edited.version == store.get(ticket.id).version > ticket.version
    assert (edited.id, edited.created_by, edited.created_at) == (
        ticket.id,
        "alice",
        ticket.created_at,
    )
    assert updates(audit_log) == [
        {
            "ticket_id": ticket.id,
            "actor": "bob",
            "changes": {
                "priority": {"old": 100, "new": 7},
                "query_context.tags": {"old": ["music", "flac"], "new": ["music", "mp3"]},
                "query_context.description": {
                    "old": "Abbey Road by The Beatles",
                    "new": "Let It Be",
                },
                "dest_path": {"old": "/media/music/beatles", "new": "/media/music/let-it-be"},
            },
        }
    ]
    history = read_history(store.conn, ticket.id)
    assert [entry.event.event_type for entry in history.entries] == [
        AuditEventType.TICKET_CREATED,
        AuditEventType.TICKET_UPDATED,
    ]
    assert check_database(db_path).problems == []


def test_only_the_fields_given_change(store: SqliteTicketStore, audit_log: SqliteAuditLog) -> None:
    ticket = create(store)
    edited, _ = store.edit(ticket.id, patch(query_context={"description": "Help!"}), actor="a")
    assert edited.query_context.tags == ticket.query_context.tags
    assert (edited.priority, edited.dest_path) == (ticket.priority, ticket.dest_path)
    assert updates(audit_log)[0]["changes"] == {
        "query_context.description": {"old": "Abbey Road by The Beatles", "new": "Help!"}
    }


@pytest.mark.parametrize(
    "fields",
    [{}, {"query_context": {}}, {"priority": 100, "dest_path": "/media/music/beatles"}],
    ids=["empty", "empty query_context", "the same values"],
)
def test_a_patch_that_changes_nothing_writes_nothing(
    store: SqliteTicketStore, db_path: Path, fields: dict[str, Any]
) -> None:
    ticket = create(store)
    before = row_counts(db_path)
    same, replayed = store.edit(ticket.id, patch(**fields), actor="a")
    assert (same, same.version, replayed) == (ticket, ticket.version, False)
    assert store.get(ticket.id).version == ticket.version
    assert row_counts(db_path) == before


def test_tag_search_counts_and_queue_order_follow_an_edit_at_once(
    store: SqliteTicketStore, db_path: Path
) -> None:
    first = create(store, priority=50, query_context={"tags": ["a", "a", "b"], "description": "1"})
    second = create(store, priority=40, query_context={"tags": ["b"], "description": "2"})
    assert ids(store) == [first.id, second.id]
    store.edit(second.id, patch(priority=60, query_context={"tags": ["c", "a", "c"]}), actor="x")
    assert ids(store) == [second.id, first.id]
    assert ids(store, tag=["a"]) == [second.id, first.id]
    assert ids(store, tag=["b"]) == [first.id]
    assert ids(store, tag=["c", "a"]) == [second.id]
    assert store.count(TicketFilter(tag=["b"])) == 1
    assert store.count(TicketFilter(tag=["c"])) == 1
    assert store.count(TicketFilter(state=["pending"])) == 2
    assert tag_rows(db_path, second.id) == ["a", "c"]
    store.edit(first.id, patch(query_context={"tags": []}), actor="x")
    assert tag_rows(db_path, first.id) == []
    assert ids(store, tag=["a"]) == [second.id]
    assert check_database(db_path).problems == []


def test_a_user_edits_only_its_own_tickets(store: SqliteTicketStore, db_path: Path) -> None:
    ticket = create(store, created_by="alice")
    before = row_counts(db_path)
    with pytest.raises(Forbidden):
        store.edit(ticket.id, patch(priority=1), actor="bob", owner="bob")
    assert store.get(ticket.id).priority == 100
    assert row_counts(db_path) == before
    assert store.edit(ticket.id, patch(priority=1), actor="alice", owner="alice")[0].priority == 1


def test_a_stale_version_is_refused_and_the_current_one_accepted(
    store: SqliteTicketStore, db_path: Path
) -> None:
    ticket = create(store)
    edited, _ = store.edit(
        ticket.id, patch(priority=1), actor="a", expected_versions={ticket.version}
    )
    before = row_counts(db_path)
    with pytest.raises(StaleTicket):
        store.edit(ticket.id, patch(priority=2), actor="a", expected_versions={ticket.version})
    assert store.get(ticket.id).priority == 1
    assert row_counts(db_path) == before
    again, _ = store.edit(
        ticket.id, patch(priority=2), actor="a", expected_versions={edited.version}
    )
    assert again.priority == 2


def cancel(store: SqliteTicketStore, ticket_id: str) -> None:
    store.cancel(ticket_id, cancelled_by="a", reason=None)


def complete(store: SqliteTicketStore, ticket_id: str) -> None:
    store.update_state(ticket_id, Completed(completed_at=utc_now()), actor="w")


def fail(store: SqliteTicketStore, ticket_id: str) -> None:
    store.update_state(ticket_id, Failed(error="no seeders", failed_at=utc_now()), actor="w")


@pytest.mark.parametrize(
    ("finish", "state"), [(cancel, "cancelled"), (complete, "completed"), (fail, "failed")]
)
def test_a_ticket_no_longer_pending_cannot_be_edited(
    store: SqliteTicketStore, db_path: Path, finish: Any, state: str
) -> None:
    ticket = create(store)
    finish(store, ticket.id)
    finished = store.get(ticket.id)
    before = row_counts(db_path)
    for fields in ({"priority": 1}, {}):  # an empty patch too: it asks for an edit
        with pytest.raises(TicketNotPending) as refused:
            store.edit(ticket.id, patch(**fields), actor="a")
        assert refused.value.state == state
        assert f"no longer pending (it is {state})" in refused.value.message
    assert store.get(ticket.id) == finished
    assert store.get(ticket.id).version == finished.version
    assert row_counts(db_path) == before


def test_a_failed_audit_write_rolls_back_the_edit(
    journal_mode: str, store: SqliteTicketStore, db_path: Path
) -> None:
    ticket = create(store)
    refuse_audit_writes(db_path)
    with pytest.raises(sqlite3.IntegrityError):
        store.edit(ticket.id, patch(priority=1, query_context={"tags": ["other"]}), actor="a")
    assert store.get(ticket.id) == ticket
    assert store.get(ticket.id).version == ticket.version
    assert tag_rows(db_path, ticket.id) == ["flac", "music"]


def test_an_idempotent_edit_applies_once(
    store: SqliteTicketStore, audit_log: SqliteAuditLog, db_path: Path
) -> None:
    ticket = create(store)
    first, replayed = store.edit(
        ticket.id, patch(priority=5), actor="a", key="k-1", expected_versions={ticket.version}
    )
    assert not replayed
    # Someone else edits it meanwhile; the retry (with its now stale If-Match) still gets
    # the first answer, and changes nothing.
    store.edit(ticket.id, patch(priority=9), actor="b")
    before = row_counts(db_path)
    again, replayed = store.edit(
        ticket.id, patch(priority=5), actor="a", key="k-1", expected_versions={ticket.version}
    )
    assert replayed
    assert (again, again.version) == (first, first.version)
    assert store.get(ticket.id).priority == 9
    assert row_counts(db_path) == before
    assert [data["changes"]["priority"]["new"] for data in updates(audit_log)] == [5, 9]


def test_an_idempotency_key_names_one_request(store: SqliteTicketStore) -> None:
    ticket = create(store)
    other = create(store)
    store.edit(ticket.id, patch(priority=5), actor="a", key="k-2")
    with pytest.raises(IdempotencyMismatch):
        store.edit(ticket.id, patch(priority=6), actor="a", key="k-2")
    with pytest.raises(IdempotencyMismatch):  # the same patch of another ticket
        store.edit(other.id, patch(priority=5), actor="a", key="k-2")
    request = CreateTicketRequest.model_validate(example_ticket())
    store.create_idempotent(request, created_by="a", key="k-3")
    with pytest.raises(IdempotencyMismatch):  # a key used for a create
        store.edit(ticket.id, patch(priority=5), actor="a", key="k-3")
    # Keys are per caller: another one may use the same key for its own request.
    assert store.edit(ticket.id, patch(priority=7), actor="b", key="k-2")[0].priority == 7


def test_a_refused_idempotent_edit_keeps_no_key(store: SqliteTicketStore) -> None:
    ticket = create(store)
    with pytest.raises(StaleTicket):
        store.edit(ticket.id, patch(priority=5), actor="a", key="k-4", expected_versions={"x"})
    edited, replayed = store.edit(ticket.id, patch(priority=5), actor="a", key="k-4")
    assert (edited.priority, replayed) == (5, False)


def test_edits_replay_through_the_whole_life_of_a_ticket(
    store: SqliteTicketStore, audit_log: SqliteAuditLog, db_path: Path
) -> None:
    ticket = create(store)
    store.edit(ticket.id, patch(priority=1), actor="a")
    store.edit(ticket.id, patch(query_context={"tags": ["x"]}, dest_path="/y"), actor="b")
    cancel(store, ticket.id)
    states: list[TicketState] = [
        entry.state for entry in read_history(store.conn, ticket.id).entries
    ]
    assert [state.kind for state in states] == ["pending", "pending", "pending", "cancelled"]
    assert check_database(db_path).problems == []
