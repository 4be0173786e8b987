"""Pages are bounded in bytes as well as in items: a page of tickets or events at the
largest sizes the API accepts stops at `MAX_PAGE_BYTES` of JSON, and its cursor carries
on from there, so every item is listed exactly once."""

from __future__ import annotations

import json

import pytest

from chalicelib import paging
from chalicelib.audit.log import AuditFilter, AuditPage, SqliteAuditLog
from chalicelib.paging import MAX_PAGE_BYTES, Page
from chalicelib.tickets.listing import TicketFilter, TicketPage
from chalicelib.tickets.model import CreateTicketRequest, Ticket
from chalicelib.tickets.store import SqliteTicketStore
from tests.helpers import LARGEST_TAG, LARGEST_TEXT, example_ticket, largest_ticket

LARGEST = 24  # tickets at the largest sizes: about 3 MiB of them as JSON


def items_json_size(page: Page) -> int:
    """The bytes of a page's items in its JSON, the commas between them included."""
    items = json.loads(page.json_body())[page.ITEMS]
    return len(json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode()) - 2


@pytest.fixture
def largest(store: SqliteTicketStore) -> list[Ticket]:
    """`LARGEST` tickets at the largest sizes: a third pending, a third failed and a third
    cancelled with the longest error or reason, so their events are the largest too."""
    tickets = []
    for number in range(LARGEST):
        ticket = store.create(
            CreateTicketRequest.model_validate(largest_ticket(number)), created_by="alice"
        )
        if number % 3 == 1:
            ticket = store.fail(ticket.id, error=LARGEST_TEXT, actor="root")
        elif number % 3 == 2:
            ticket = store.cancel(ticket.id, cancelled_by="alice", reason=LARGEST_TEXT)
        tickets.append(ticket)
    return tickets


def ticket_pages(store: SqliteTicketStore, **filters: object) -> list[TicketPage]:
    pages = [store.page(TicketFilter.model_validate(filters))]
    while pages[-1].next_after is not None:
        pages.append(
            store.page(TicketFilter.model_validate({**filters, "after": pages[-1].next_after}))
        )
    return pages


def audit_pages(audit_log: SqliteAuditLog, **filters: object) -> list[AuditPage]:
    pages = [audit_log.page(AuditFilter.model_validate(filters))]
    while pages[-1].next_after is not None:
        following = {**filters, "after": pages[-1].next_after}
        pages.append(audit_log.page(AuditFilter.model_validate(following)))
    return pages


def assert_each_page_is_full_but_the_last(pages: list[TicketPage] | list[AuditPage]) -> None:
    """Each page's items fit the bound; each but the last stops only because the next
    item would not have fitted."""
    for page, following in zip(pages, [*pages[1:], None], strict=True):
        size = items_json_size(page)
        assert size <= MAX_PAGE_BYTES
        if following is not None:
            first_next = len(getattr(following, following.ITEMS)[0].model_dump_json().encode())
            assert size + 1 + first_next > MAX_PAGE_BYTES


def test_a_page_of_the_largest_tickets_stops_at_the_byte_bound_and_next_carries_on(
    store: SqliteTicketStore, largest: list[Ticket]
) -> None:
    for filters in ({"limit": 1000}, {"limit": 1000, "tag": [LARGEST_TAG]}, {"sort": "newest"}):
        pages = ticket_pages(store, **filters)
        assert len(pages) >= 3, filters
        assert_each_page_is_full_but_the_last(pages)
        assert all(page.total == LARGEST for page in pages)
        listed = [ticket.id for page in pages for ticket in page.tickets]
        assert sorted(listed) == sorted(ticket.id for ticket in largest)  # each exactly once
        in_order = store.list(TicketFilter.model_validate({**filters, "limit": 1000}))
        assert listed == [ticket.id for ticket in in_order]


def test_a_page_of_the_largest_events_stops_at_the_byte_bound_and_next_carries_on(
    audit_log: SqliteAuditLog, largest: list[Ticket]
) -> None:
    transitions = sum(1 for ticket in largest if ticket.is_terminal())
    for sort in ("oldest", "newest"):
        pages = audit_pages(audit_log, limit=1000, sort=sort)
        assert len(pages) >= 4, sort
        assert_each_page_is_full_but_the_last(pages)
        ids = [event.id for page in pages for event in page.events]
        assert ids == sorted(ids, reverse=sort == "newest")
        assert len(ids) == len(set(ids)) == LARGEST + transitions


def test_limit_still_means_at_most(store: SqliteTicketStore, largest: list[Ticket]) -> None:
    pages = ticket_pages(store, limit=2)
    assert [len(page.tickets) for page in pages] == [2] * (LARGEST // 2)
    for _ in range(5):
        store.create(
            CreateTicketRequest.model_validate(example_ticket(priority=0)), created_by="bob"
        )
    small = store.page(TicketFilter(limit=3, created_by="bob"))
    assert len(small.tickets) == 3
    assert small.next_after == small.tickets[-1].id


@pytest.mark.parametrize("limit", [1, 7, 1000])
def test_the_json_body_is_exactly_the_models_own_json(
    store: SqliteTicketStore, audit_log: SqliteAuditLog, largest: list[Ticket], limit: int
) -> None:
    store.create(
        CreateTicketRequest.model_validate(
            example_ticket(query_context={"tags": ['"', "\\", "é"], "description": "\u2028 🎵"})
        ),
        created_by="alice",
    )
    pages: list[TicketPage | AuditPage] = [
        store.page(TicketFilter(limit=limit)),
        audit_log.page(AuditFilter(limit=limit, sort="newest")),
        store.page(TicketFilter(created_by="nobody")),  # no items
    ]
    for page in pages:
        assert page.json_body() == page.model_dump_json()
        linked = page.model_copy(update={"next": "/api/v1/tickets?after=x&tag=%22"})
        assert linked.json_body() == linked.model_dump_json()
        assert '"next":"/api/v1/tickets?after=x&tag=%22"' in linked.json_body()


@pytest.mark.parametrize("limit", [1, 2, 7, 50])
def test_a_page_read_at_once_is_the_page_read_a_few_rows_at_a_time(
    store: SqliteTicketStore,
    audit_log: SqliteAuditLog,
    largest: list[Ticket],
    limit: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pages are read in one statement, their rows' JSON joined by SQLite, unless that
    JSON would pass `AT_ONCE_BYTES`: then a few rows at a time. Both give the same pages."""
    for number in range(5):
        store.create(
            CreateTicketRequest.model_validate(example_ticket(priority=number * 10)),
            created_by="bob",
        )

    def every_page() -> list[str]:
        pages: list[Page] = []
        for filters in ({}, {"sort": "newest"}, {"state": "pending"}, {"created_by": "bob"}):
            pages += ticket_pages(store, limit=limit, **filters)
        for filters in ({}, {"sort": "newest"}, {"event_type": "ticket_created"}):
            pages += audit_pages(audit_log, limit=limit, **filters)
        return [page.json_body() for page in pages]

    at_once = every_page()
    monkeypatch.setattr(paging, "AT_ONCE_BYTES", 1)  # every page too large to read at once
    assert every_page() == at_once
