"""SqliteTicketStore and the audit log against a real SQLite file per test."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from chalicelib.audit.events import AuditEventType
from chalicelib.audit.log import AuditFilter, SqliteAuditLog
from chalicelib.errors import InvalidTransition, StaleTicket, TicketNotFound
from chalicelib.tickets.listing import TicketFilter
from chalicelib.tickets.model import MAX_TAGS, CreateTicketRequest
from chalicelib.tickets.states import Cancelled, Completed, Failed, Pending
from chalicelib.tickets.store import SqliteTicketStore
from chalicelib.timestamps import utc_now
from tests.helpers import example_ticket, row_counts


def request(**overrides: object) -> CreateTicketRequest:
    return CreateTicketRequest.model_validate(example_ticket(**overrides))


def events(audit_log: SqliteAuditLog, **filters: object) -> list[dict[str, Any]]:
    page = audit_log.page(AuditFilter.model_validate({"limit": 1000, **filters}))
    return [e.model_dump(mode="json") for e in page.events]


def test_create_then_get_returns_the_same_ticket(store: SqliteTicketStore) -> None:
    created = store.create(request(), created_by="alice")
    assert created.state == Pending()
    assert created.created_by == "alice"
    assert store.get(created.id) == created
    assert store.get(created.id.upper()) == created


def test_create_records_ticket_created_in_the_same_database(
    store: SqliteTicketStore, audit_log: SqliteAuditLog
) -> None:
    created = store.create(request(), created_by="alice")
    (event,) = events(audit_log, event_type="ticket_created")
    assert event["data"] == {
        "ticket_id": created.id,
        "created_by": "alice",
        "priority": 100,
        "query_context": {"tags": ["music", "flac"], "description": "Abbey Road by The Beatles"},
        "dest_path": "/media/music/beatles",
    }


def test_every_tag_of_a_create_is_found_by_tag_search_once(store: SqliteTicketStore) -> None:
    # A create adds its tags in one statement (`insert_tags`): as many as a ticket may
    # have, a repeated one added once.
    tags = [f"t{n}" for n in range(MAX_TAGS - 1)] + ["t0"]
    created = store.create(
        request(query_context={"tags": tags, "description": "many"}), created_by="alice"
    )
    assert store.get(created.id).query_context.tags == tags
    for tag in ("t0", f"t{MAX_TAGS - 2}"):
        found = store.list(TicketFilter.model_validate({"tag": [tag]}))
        assert [ticket.id for ticket in found] == [created.id]
    untagged = store.create(
        request(query_context={"tags": [], "description": "none"}), created_by="alice"
    )
    assert store.get(untagged.id).query_context.tags == []


def test_text_is_stored_exactly_as_given(store: SqliteTicketStore, db_path: Path) -> None:
    description = "Robert's \"best\" -- é 中文 🎵 '; DROP TABLE tickets; --"
    created = store.create(
        request(query_context={"tags": ["a'b", "%", "_"], "description": description}),
        created_by="alice",
    )
    assert store.get(created.id).query_context.description == description
    raw = sqlite3.connect(db_path).execute("SELECT query_context FROM tickets").fetchone()[0]
    assert "中文" in raw  # stored as UTF-8 text, not \u escapes


def test_a_row_stored_under_looser_rules_for_its_query_context_still_reads_back(
    store: SqliteTicketStore, db_path: Path
) -> None:
    created = store.create(request(), created_by="alice")
    # Say an older version allowed more tags and control characters in a tag than today's.
    looser = {"tags": [f"t{n}" for n in range(150)] + ["a\tb"], "description": "old"}
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute(
            "UPDATE tickets SET query_context = ? WHERE id = ?", (json.dumps(looser), created.id)
        )
    conn.close()
    assert store.get(created.id).query_context.model_dump() == looser
    body, version = store.get_json(created.id)  # what GET answers: the model's JSON
    assert (body, version) == (store.get(created.id).model_dump_json(), created.version)
    (listed,) = store.list(TicketFilter())
    assert listed.query_context.tags[-1] == "a\tb"


@pytest.mark.parametrize("ticket_id", ["0" * 36, "not-a-uuid", "", "'; DROP TABLE tickets; --"])
def test_get_unknown_or_malformed_id_raises_ticket_not_found(
    store: SqliteTicketStore, ticket_id: str
) -> None:
    with pytest.raises(TicketNotFound):
        store.get(ticket_id)
    with pytest.raises(TicketNotFound):
        store.get_json(ticket_id)


def test_list_is_in_queue_order_and_pages_are_stable(store: SqliteTicketStore) -> None:
    low = store.create(request(priority=1), created_by="a")
    high = store.create(request(priority=500), created_by="a")
    mid_old = store.create(request(priority=100), created_by="a")
    mid_new = store.create(request(priority=100), created_by="a")
    order = [t.id for t in store.list(TicketFilter())]
    assert order == [high.id, mid_old.id, mid_new.id, low.id]
    paged = [t.id for offset in range(4) for t in store.list(TicketFilter(limit=1, offset=offset))]
    assert paged == order
    assert store.list(TicketFilter(offset=10)) == []


def test_list_and_count_filter_by_state(store: SqliteTicketStore) -> None:
    keep = store.create(request(), created_by="a")
    gone = store.create(request(), created_by="a")
    store.cancel(gone.id, cancelled_by="a", reason=None)
    assert [t.id for t in store.list(TicketFilter(state=["pending"]))] == [keep.id]
    assert [t.id for t in store.list(TicketFilter(state=["cancelled"]))] == [gone.id]
    assert store.count(TicketFilter(state=["pending"])) == 1
    assert store.count(TicketFilter(state=["completed"])) == 0
    assert store.count(TicketFilter()) == 2
    page = store.page(TicketFilter(state=["cancelled"], limit=1))
    assert (page.total, page.limit, page.offset, len(page.tickets)) == (1, 1, 0, 1)


def test_cancel_moves_to_cancelled_and_records_previous_state(
    store: SqliteTicketStore, audit_log: SqliteAuditLog
) -> None:
    created = store.create(request(), created_by="alice")
    cancelled = store.cancel(created.id, cancelled_by="bob", reason="No longer needed")
    assert isinstance(cancelled.state, Cancelled)
    assert cancelled.state.cancelled_by == "bob"
    assert cancelled.state.reason == "No longer needed"
    assert store.get(created.id) == cancelled
    (event,) = events(audit_log, event_type="ticket_cancelled")
    assert event["data"] == {
        "ticket_id": created.id,
        "cancelled_by": "bob",
        "reason": "No longer needed",
        "previous_state": "pending",
    }
    assert (
        event["timestamp"]
        == cancelled.model_dump(mode="json")["state"]["cancelled"]["cancelled_at"]
    )


def test_cancelling_a_terminal_ticket_is_refused_and_changes_nothing(
    store: SqliteTicketStore, db_path: Path
) -> None:
    created = store.create(request(), created_by="a")
    first = store.cancel(created.id, cancelled_by="a", reason="first")
    before = row_counts(db_path)
    with pytest.raises(InvalidTransition):
        store.cancel(created.id, cancelled_by="a", reason="second")
    assert store.get(created.id) == first
    assert row_counts(db_path) == before


@pytest.mark.parametrize(
    "new_state",
    [Completed(completed_at=utc_now()), Failed(error="no seeders", failed_at=utc_now())],
    ids=["completed", "failed"],
)
def test_update_state_records_ticket_state_changed(
    store: SqliteTicketStore, audit_log: SqliteAuditLog, new_state: Completed | Failed
) -> None:
    created = store.create(request(), created_by="a")
    updated = store.update_state(created.id, new_state, actor="processor")
    assert updated.state == new_state
    assert store.get(created.id).state == new_state
    (event,) = events(audit_log, event_type="ticket_state_changed")
    assert event["data"] == {
        "ticket_id": created.id,
        "from": "pending",
        "to": new_state.kind,
        "actor": "processor",
        "state": new_state.model_dump(mode="json"),
    }
    with pytest.raises(InvalidTransition):
        store.update_state(created.id, Pending(), actor="processor")


def test_update_state_with_a_stale_version_fails_instead_of_overwriting(
    store: SqliteTicketStore,
) -> None:
    created = store.create(request(), created_by="a")
    version = store.get(created.id).version
    # Someone else moves the ticket after our read...
    store.update_state(created.id, Completed(completed_at=utc_now()), actor="other")
    # ...so our write, based on the old version, must not go through.
    with pytest.raises(StaleTicket):
        store.update_state(
            created.id,
            Failed(error="x", failed_at=utc_now()),
            actor="me",
            expected_versions={version},
        )
    assert isinstance(store.get(created.id).state, Completed)


def test_update_state_with_the_current_version_succeeds(store: SqliteTicketStore) -> None:
    created = store.create(request(), created_by="a")
    version = store.get(created.id).version
    updated = store.update_state(
        created.id, Completed(completed_at=utc_now()), actor="a", expected_versions={version}
    )
    new_version = store.get(created.id).version
    assert updated.version == new_version
    assert new_version > version


def test_update_state_of_unknown_ticket_raises_not_found(store: SqliteTicketStore) -> None:
    with pytest.raises(TicketNotFound):
        store.cancel("0" * 8 + "-0000-0000-0000-" + "0" * 12, cancelled_by="a", reason=None)


def refuse_audit_writes(db_path: Path) -> None:
    """Make every audit insert fail, as a full disk or a bug would, with a real trigger."""
    conn = sqlite3.connect(db_path)
    conn.execute(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events"
        " BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
    )
    conn.commit()
    conn.close()


def test_a_failed_audit_write_rolls_back_the_ticket(
    journal_mode: str, store: SqliteTicketStore, db_path: Path
) -> None:
    refuse_audit_writes(db_path)
    with pytest.raises(sqlite3.IntegrityError):
        store.create(request(), created_by="a")
    assert row_counts(db_path) == (0, 0)


def test_a_failed_audit_write_rolls_back_the_cancel(
    journal_mode: str, store: SqliteTicketStore, db_path: Path
) -> None:
    created = store.create(request(), created_by="a")
    refuse_audit_writes(db_path)
    with pytest.raises(sqlite3.IntegrityError):
        store.cancel(created.id, cancelled_by="a", reason=None)
    assert store.get(created.id).state == Pending()


def test_audit_filters_and_paging(store: SqliteTicketStore, audit_log: SqliteAuditLog) -> None:
    first = store.create(request(), created_by="a")
    second = store.create(request(), created_by="a")
    store.cancel(first.id, cancelled_by="a", reason=None)
    mine = events(audit_log, ticket_id=first.id)
    assert [e["event_type"] for e in mine] == ["ticket_created", "ticket_cancelled"]
    assert [e["data"]["ticket_id"] for e in events(audit_log, event_type="ticket_created")] == [
        first.id,
        second.id,
    ]
    page = audit_log.page(AuditFilter(limit=1, offset=1))
    assert page.total == 3
    assert [e.event_type for e in page.events] == [AuditEventType.TICKET_CREATED]
    ids = [e["id"] for e in events(audit_log)]
    assert ids == sorted(ids)


def test_counts_kept_by_triggers_match_the_rows(store: SqliteTicketStore, db_path: Path) -> None:
    ids = [store.create(request(), created_by="a").id for _ in range(5)]
    store.cancel(ids[0], cancelled_by="a", reason=None)
    store.update_state(ids[1], Completed(completed_at=utc_now()), actor="a")
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("DELETE FROM tickets WHERE id = ?", (ids[2],))
        conn.commit()
        expected = dict(
            conn.execute("SELECT json_extract(state, '$.type'), count(*) FROM tickets GROUP BY 1")
        )
    finally:
        conn.close()
    assert expected == {"pending": 2, "cancelled": 1, "completed": 1}
    for state, count in expected.items():
        assert store.count(TicketFilter(state=state)) == count
    assert store.count(TicketFilter(state="failed")) == 0
    assert store.count(TicketFilter()) == 4


def test_totals_from_the_count_tables_match_counting_rows(
    store: SqliteTicketStore, audit_log: SqliteAuditLog, db_path: Path
) -> None:
    made = [store.create(request(priority=n % 3), created_by=f"u{n % 2}") for n in range(9)]
    for ticket in made[:4]:
        store.cancel(ticket.id, cancelled_by="a", reason=None)
    store.complete(made[4].id, actor="a")
    conn = sqlite3.connect(db_path)

    def counted(sql: str) -> int:
        value: int = conn.execute(sql).fetchone()[0]
        return value

    try:
        for states in ([], ["pending"], ["cancelled", "completed"], ["failed"]):
            where = f" WHERE json_extract(state, '$.type') IN ({','.join(repr(s) for s in states)})"
            expected = counted("SELECT count(*) FROM tickets" + (where if states else ""))
            assert store.count(TicketFilter(state=states or None)) == expected
        for types in ([], ["ticket_created"], ["ticket_cancelled", "ticket_state_changed"]):
            where = f" WHERE event_type IN ({','.join(repr(t) for t in types)})"
            expected = counted("SELECT count(*) FROM audit_events" + (where if types else ""))
            assert audit_log.page(AuditFilter(event_type=types or None)).total == expected
    finally:
        conn.close()
