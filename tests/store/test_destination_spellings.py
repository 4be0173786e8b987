"""A ticket's dest_path is inside a destination only if it names a folder inside it on the
disk: a spelling that Unicode calls canonically equivalent to the root's (NFC would make
them one text) is another name to a Linux file system, so another folder, beside the root
rather than in it. On a real SQLite file, as a request files the ticket."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.destinations.store import CreateDestinationRequest, add_destination
from chalicelib.errors import InvalidInput
from chalicelib.service.unit_of_work import Storage
from chalicelib.tickets.model import CreateTicketRequest
from tests.helpers import example_ticket, row_counts

ROOTS = {"Kids": "/media/Kids", "Cafe": "/media/caf\u00e9", "Odd": "/media/a;b"}


def ticket_to(path: str) -> CreateTicketRequest:
    return CreateTicketRequest.model_validate(example_ticket(dest_path=path))


@pytest.fixture
def destinations(storage: Storage) -> Storage:
    for name, root in ROOTS.items():
        request = CreateDestinationRequest.model_validate({"name": name, "root": root})
        add_destination(storage.connection, request, actor="root")
    return storage


@pytest.mark.parametrize(
    "path",
    [
        "/media/\u212aids/x",  # KELVIN SIGN, whose NFC is the letter K
        "/media/cafe\u0301/x",  # e and a combining acute accent: NFD of the root's é
        "/media/a\u037eb/x",  # GREEK QUESTION MARK, whose NFC is ';'
    ],
)
def test_a_canonically_equivalent_spelling_of_a_root_is_outside_it(
    destinations: Storage, db_path: Path, path: str
) -> None:
    before = row_counts(db_path)
    with pytest.raises(InvalidInput) as refused:
        destinations.tickets.create(ticket_to(path), created_by="alice")
    assert refused.value.details[0]["field"] == "dest_path"
    with pytest.raises(InvalidInput):
        destinations.tickets.create_idempotent(ticket_to(path), created_by="alice", key="k")
    assert row_counts(db_path) == before


@pytest.mark.parametrize(
    "path",
    [
        "/media/Kids/x",
        "/media/caf\u00e9/x",
        "/media/a;b/x",
        "/media/caf\u00e9/cafe\u0301",  # below the root, any spelling names a folder inside
    ],
)
def test_the_roots_own_spelling_is_inside(destinations: Storage, path: str) -> None:
    assert destinations.tickets.create(ticket_to(path), created_by="alice").dest_path == path
