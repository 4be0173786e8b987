"""Through the API: a list of the largest tickets or events answers about a mebibyte at
most, with a `next` link (and `Link` header) that carries on where the bytes ran out."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from chalicelib.paging import MAX_PAGE_BYTES
from tests.handler.conftest import Api
from tests.helpers import LARGEST_TAG, LARGEST_TEXT, largest_ticket

TICKETS = 12  # about 1.6 MiB of them as JSON, with their events twice that


def walk(api: Api, url: str) -> list[tuple[dict[str, Any], int]]:
    """Each page from `url` on and the size of its answer, following `next`."""
    pages = []
    next_url: str | None = url
    while next_url is not None:
        response = api.client.http.get(next_url)
        assert response.status_code == 200
        page = json.loads(response.body)
        if page["next"] is not None:
            assert response.headers["Link"] == f'<{page["next"]}>; rel="next"'
        pages.append((page, len(response.body)))
        next_url = page["next"]
    return pages


@pytest.fixture
def largest(api: Api) -> list[str]:
    """`TICKETS` tickets at the largest sizes, every other one failed with the longest
    error; their ids."""
    made = []
    for number in range(TICKETS):
        status, ticket, _ = api.call("POST", "/api/v1/tickets", largest_ticket(number))
        assert status == 201
        made.append(ticket["id"])
        if number % 2:
            failed = api.call(
                "POST", f"/api/v1/tickets/{ticket['id']}/fail", {"error": LARGEST_TEXT}
            )
            assert failed[0] == 200
    return made


@pytest.mark.parametrize(
    ("url", "items"),
    [
        (f"/api/v1/tickets?limit=1000&tag={quote(LARGEST_TAG)}", "tickets"),
        (
            "/api/v1/audit?limit=1000&event_type=ticket_created&event_type=ticket_state_changed",
            "events",
        ),
    ],
)
def test_lists_of_the_largest_items_stop_near_a_mebibyte_and_link_onwards(
    api: Api, largest: list[str], url: str, items: str
) -> None:
    pages = walk(api, url)
    assert len(pages) >= 2
    for page, size in pages:
        assert page["limit"] == 1000  # as asked, though each page holds fewer
        assert page["total"] == TICKETS if items == "tickets" else TICKETS * 3 // 2
        # The items' bound, plus the page's other fields and its link.
        assert size <= MAX_PAGE_BYTES + len(page["next"] or "") + 100, size
        if page["next"] is not None:
            assert "limit=1000" in page["next"]
            assert f"after={page[items][-1]['id']}" in page["next"]
    listed = [item["id"] for page, _ in pages for item in page[items]]
    assert len(listed) == len(set(listed)) == pages[0][0]["total"]
    if items == "tickets":
        assert sorted(listed) == sorted(largest)
