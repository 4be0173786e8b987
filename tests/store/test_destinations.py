"""Destinations on a real SQLite file: added, listed and removed with their events, and the
rule they make for every ticket filed while any exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chalicelib.destinations.store import (
    CreateDestinationRequest,
    add_destination,
    list_destinations,
    remove_destination,
    require_inside,
)
from chalicelib.errors import DestinationNotFound, DestinationTaken, InvalidInput
from chalicelib.service.unit_of_work import Storage
from chalicelib.tickets.model import CreateTicketRequest
from tests.helpers import example_ticket, row_counts


def destination(**fields: Any) -> CreateDestinationRequest:
    return CreateDestinationRequest.model_validate(
        {"name": "Movies", "root": "/media/movies/", "tags": ["movie"], **fields}
    )


def ticket_to(path: str) -> CreateTicketRequest:
    return CreateTicketRequest.model_validate(example_ticket(dest_path=path))


def test_a_destination_is_added_listed_and_removed_with_its_events(storage: Storage) -> None:
    conn = storage.connection
    added = add_destination(conn, destination(), actor="root")
    assert added.root == "/media/movies"  # normalised: no trailing slash
    assert list_destinations(conn) == [added]
    assert remove_destination(conn, added.id, actor="root") == added
    assert list_destinations(conn) == []
    types = [r[0] for r in conn.execute("SELECT event_type FROM audit_events ORDER BY id")]
    assert types == ["destination_added", "destination_removed"]
    with pytest.raises(DestinationNotFound):
        remove_destination(conn, added.id, actor="root")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "movies"}, "name"),  # the same name in another case
        ({"name": "Films", "root": "/media//movies"}, "root"),  # the same root, spelled otherwise
    ],
)
def test_a_taken_name_or_root_is_refused(
    storage: Storage, db_path: Path, fields: dict[str, Any], field: str
) -> None:
    add_destination(storage.connection, destination(), actor="root")
    before = row_counts(db_path)
    with pytest.raises(DestinationTaken) as refused:
        add_destination(storage.connection, destination(**fields), actor="root")
    assert refused.value.field == field
    assert row_counts(db_path) == before


@pytest.mark.parametrize(
    "fields",
    [
        {"root": "/"},
        {"root": "relative/path"},
        {"root": "/a/../etc"},
        {"name": "   "},
        {"tags": [""]},
    ],
)
def test_a_bad_destination_is_refused_by_its_model(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        destination(**fields)


def test_with_no_destination_every_path_may_be_used(storage: Storage) -> None:
    require_inside(storage.connection, "/anywhere/at/all")
    assert storage.tickets.create(ticket_to("/etc/x"), created_by="alice").dest_path == "/etc/x"


def test_while_one_exists_a_ticket_outside_is_refused_and_nothing_written(
    storage: Storage, db_path: Path
) -> None:
    add_destination(storage.connection, destination(), actor="root")
    add_destination(
        storage.connection, destination(name="Music", root="/media/music"), actor="root"
    )
    before = row_counts(db_path)
    for path in ("/media/movies-old/x", "/etc/passwd", "/media/movies2"):
        with pytest.raises(InvalidInput) as refused:
            storage.tickets.create(ticket_to(path), created_by="alice")
        assert refused.value.details[0]["field"] == "dest_path"
        assert "Movies (/media/movies), Music (/media/music)" in refused.value.message
        with pytest.raises(InvalidInput):
            storage.tickets.create_idempotent(ticket_to(path), created_by="alice", key="k1")
    assert row_counts(db_path) == before
    inside = storage.tickets.create(ticket_to("/media/movies/kids/moana"), created_by="alice")
    assert inside.dest_path == "/media/movies/kids/moana"
