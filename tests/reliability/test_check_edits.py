"""The consistency check replays edits: a ticket's fields must be its creation plus its
edits, and tag search (its `ticket_tags` rows) must find it by exactly its tags."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from chalicelib.backups import check
from chalicelib.tickets.model import CreateTicketRequest
from chalicelib.tickets.patch import UpdateTicketRequest
from chalicelib.tickets.store import SqliteTicketStore
from tests.helpers import example_ticket
from tests.reliability.test_check import sql


@pytest.fixture
def edited(store: SqliteTicketStore) -> str:
    """A ticket edited twice: priority 100 -> 5, tags [music, flac] -> [music, mp3]."""
    request = CreateTicketRequest.model_validate(example_ticket())
    ticket = store.create(request, created_by="alice")
    store.edit(ticket.id, UpdateTicketRequest(priority=5), actor="alice")
    patch = UpdateTicketRequest.model_validate({"query_context": {"tags": ["music", "mp3"]}})
    store.edit(ticket.id, patch, actor="root")
    return ticket.id


def test_an_edited_ticket_passes(db_path: Path, edited: str) -> None:
    report = check.check_database(db_path)
    assert report.problems == []
    assert (report.tickets, report.events) == (1, 3)


def change_of(path: Path, ticket_id: str, field: str, change: dict[str, object]) -> None:
    """Set one field's change in the ticket's first ticket_updated event."""
    sql(
        path,
        "UPDATE audit_events SET data = json_set(data, ?, json(?)) WHERE id = (SELECT min(id)"
        " FROM audit_events WHERE ticket_id = ? AND event_type = 'ticket_updated')",
        f'$.changes."{field}"',
        json.dumps(change),
        ticket_id,
    )


def cancelled_before_its_edits(path: Path, ticket_id: str) -> None:
    """Move the ticket's edits to after a cancel slipped in between them and its creation."""
    sql(
        path,
        "UPDATE audit_events SET id = id + 100 WHERE event_type = 'ticket_updated'"
        " AND ticket_id = ?",
        ticket_id,
    )
    sql(
        path,
        "INSERT INTO audit_events (id, event_type, timestamp, ticket_id, actor, data)"
        " SELECT 50, 'ticket_cancelled', timestamp, ticket_id, 'x', json_object("
        "'ticket_id', ticket_id, 'cancelled_by', 'x', 'reason', NULL,"
        " 'previous_state', 'pending') FROM audit_events WHERE ticket_id = ? LIMIT 1",
        ticket_id,
    )


Damage = Callable[[Path, str], None]

DAMAGE: dict[str, tuple[Damage, str]] = {
    "an edit lost": (
        lambda p, t: sql(p, "DELETE FROM audit_events WHERE event_type = 'ticket_updated'"),
        "stored priority is 5 but its audit events give 100",
    ),
    "an edit made behind the log's back": (
        lambda p, t: sql(p, "UPDATE tickets SET dest_path = '/elsewhere' WHERE id = ?", t),
        "stored dest_path is '/elsewhere' but its audit events give '/media/music/beatles'",
    ),
    "an edit from a value the ticket never had": (
        lambda p, t: change_of(p, t, "priority", {"old": 7, "new": 5}),
        "says priority was 7, but its history says 100",
    ),
    "an edit to a value a create refuses": (
        lambda p, t: change_of(p, t, "priority", {"old": 100, "new": 70000}),
        "unreadable ticket_updated data",
    ),
    "an edit of a field no edit changes": (
        lambda p, t: change_of(p, t, "created_by", {"old": "alice", "new": "mallory"}),
        "unreadable ticket_updated data",
    ),
    "an edit after the ticket ended": (
        cancelled_before_its_edits,
        "an edit while the ticket was cancelled",
    ),
    "a tag search row lost": (
        lambda p, t: sql(p, "DELETE FROM ticket_tags WHERE tag = 'mp3'"),
        "tag search does not find it by its tag 'mp3'",
    ),
    "a tag search row left behind": (
        lambda p, t: sql(p, "INSERT INTO ticket_tags (tag, ticket_id) VALUES ('flac', ?)", t),
        "tag search finds it by 'flac', which it does not hold",
    ),
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_each_kind_of_damage_to_an_edit_is_named(db_path: Path, edited: str, name: str) -> None:
    damage, needle = DAMAGE[name]
    damage(db_path, edited)
    report = check.check_database(db_path)
    assert not report.ok
    assert any(needle in str(problem) for problem in report.problems), report.problems
