"""The audit log newest first (`sort=newest`): the same events as oldest first, in reverse,
paged through `next` and `after=` in either order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from tests.handler.conftest import Api
from tests.helpers import example_ticket


def create(api: Api, headers: dict[str, str] | None = None) -> dict[str, Any]:
    status, ticket, _ = api.call("POST", "/api/v1/tickets", example_ticket(), headers=headers)
    assert status == 201, ticket
    return dict(ticket)


def audit(api: Api, query: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    status, page, _ = api.call("GET", f"/api/v1/audit?{query}", headers=headers)
    assert status == 200, page
    return dict(page)


def event_ids(api: Api, query: str, headers: dict[str, str] | None = None) -> list[int]:
    return [event["id"] for event in audit(api, query, headers)["events"]]


def test_newest_first_is_oldest_first_reversed_with_the_same_total(api: Api) -> None:
    for _ in range(5):
        create(api)
    oldest, newest = audit(api, "sort=oldest"), audit(api, "sort=newest")
    assert len(oldest["events"]) == 6  # service_started and five tickets
    assert newest["events"] == oldest["events"][::-1]
    assert newest["total"] == oldest["total"] == 6
    assert audit(api, "")["events"] == oldest["events"]  # oldest first is the default
    # The newest event alone, whatever the log's length: what the page follows from.
    assert event_ids(api, "sort=newest&limit=1") == [oldest["events"][-1]["id"]]


@pytest.mark.parametrize("sort", ["oldest", "newest"])
@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_following_next_visits_every_event_once_in_order(api: Api, sort: str, limit: int) -> None:
    for _ in range(6):
        create(api)
    expected = event_ids(api, f"sort={sort}&limit=1000")
    seen: list[int] = []
    for page, headers in api.pages(f"/api/v1/audit?sort={sort}&limit={limit}"):
        assert page["total"] == len(expected)
        seen += [event["id"] for event in page["events"]]
        if (url := page["next"]) is not None:
            assert f"sort={sort}" in url and "after=" in url and "offset=" not in url
            assert headers["Link"] == f'<{url}>; rel="next"'
    assert seen == expected


def test_after_continues_either_way_from_the_same_event(api: Api) -> None:
    for _ in range(4):
        create(api)
    every = event_ids(api, "limit=1000")  # oldest first
    middle = every[2]
    assert event_ids(api, f"after={middle}") == every[3:]
    assert event_ids(api, f"sort=newest&after={middle}") == every[:2][::-1]
    assert event_ids(api, f"sort=newest&after={middle}&limit=1") == [every[1]]
    assert event_ids(api, f"sort=newest&after={middle}&offset=1") == [every[0]]
    # A page back from the newest, then forward again, lands on the same events.
    back = audit(api, "sort=newest&limit=2")
    assert [e["id"] for e in back["events"]] == every[:-3:-1]
    older = audit(api, f"sort=newest&limit=2&after={back['events'][-1]['id']}")
    assert [e["id"] for e in older["events"]] == every[-3:-5:-1]
    newer = audit(api, f"limit=2&after={older['events'][0]['id']}")
    assert [e["id"] for e in newer["events"]][::-1] == [e["id"] for e in back["events"]]


def test_a_newest_first_cursor_may_be_any_event_id(api: Api) -> None:
    for _ in range(3):
        create(api)
    every = event_ids(api, "limit=1000")
    # Nothing comes before the first event; an id beyond the last starts at the newest.
    assert audit(api, "sort=newest&after=0")["events"] == []
    assert audit(api, f"sort=newest&after={every[0]}")["events"] == []
    assert event_ids(api, f"sort=newest&after={every[-1] + 1000}") == every[::-1]
    # A cursor the filter does not match still says where to continue.
    created = event_ids(api, "event_type=ticket_created")
    assert (
        event_ids(api, f"sort=newest&event_type=ticket_created&after={every[-1]}")
        == (created[:-1][::-1])
    )
    assert event_ids(api, f"sort=newest&event_type=ticket_created&after={every[1]}") == []


def test_newest_first_keeps_a_users_view_to_its_own_tickets(api: Api, handler_db: Path) -> None:
    bob = {"X-Api-Key": create_key(handler_db, "bob", Role.USER)[1]}
    carol = {"X-Api-Key": create_key(handler_db, "carol", Role.USER)[1]}
    mine = [create(api, bob)["id"], create(api, carol)["id"], create(api, bob)["id"]]
    page = audit(api, "sort=newest&limit=1", bob)
    assert [e["data"]["ticket_id"] for e in page["events"]] == [mine[2]]
    assert page["total"] == 2
    rest = audit(api, f"sort=newest&after={page['events'][0]['id']}", bob)
    assert [e["data"]["ticket_id"] for e in rest["events"]] == [mine[0]]
    assert rest["next"] is None


@pytest.mark.parametrize("value", ["newer", "NEWEST", "queue", ""])
def test_an_unknown_order_is_400(api: Api, value: str) -> None:
    create(api)
    status, payload, _ = api.call("GET", f"/api/v1/audit?sort={value}")
    assert status == 400, payload
    assert payload["error"]["details"][0]["field"] == "sort"
