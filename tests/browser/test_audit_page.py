"""The audit log in a real browser: filter by event type, page through it."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, expect

from chalicelib.audit.events import AuditEventType
from tests.browser.conftest import OpenContext, Site
from tests.helpers import LARGEST_TEXT, largest_ticket

DASH = "\u2013"  # the page writes ranges with an en dash: 1\u201350


def event_ids(page: Page) -> list[int]:
    return [int(str(e.get_attribute("data-event-id"))) for e in page.locator(".event").all()]


def test_filter_by_event_type_and_page_through(
    fresh_site: Site, open_page: Callable[..., Page]
) -> None:
    site = fresh_site
    tickets = [
        site.file(query_context={"tags": [], "description": f"Ticket {n}"}) for n in range(64)
    ]
    for ticket in tickets[:3]:
        site.call("DELETE", f"tickets/{ticket['id']}", json={"reason": "not wanted"})
    everything = site.call("GET", "audit?limit=1000")
    total = everything["total"]
    assert total == 1 + 64 + 3  # service_started, 64 created, 3 cancelled
    ids = [event["id"] for event in everything["events"]]
    page = open_page(site, None, "#/audit")
    # A filter for every event type the API's OpenAPI document names.
    expect(page.locator(".filters .chip")).to_have_count(len(AuditEventType))
    # The newest page first, newest event at the top; pages are 50 events from the oldest.
    expect(page.get_by_role("status").filter(has_text="Events")).to_have_text(
        f"Events 51{DASH}{total} of {total}, newest first."
    )
    assert event_ids(page) == ids[50:][::-1]
    expect(page.get_by_role("button", name="Newer")).to_be_disabled()
    page.get_by_role("button", name="Older").click()
    expect(page.get_by_role("status").filter(has_text="Events")).to_have_text(
        f"Events 1{DASH}50 of {total}, newest first."
    )
    assert event_ids(page) == ids[:50][::-1]
    expect(page.get_by_role("button", name="Older")).to_be_disabled()
    expect(page.locator(".event").last).to_contain_text("Service started")
    assert "offset=0" in page.url
    page.get_by_role("button", name="Newest").click()
    expect(page.get_by_role("status").filter(has_text="Events")).to_contain_text(f"Events 51{DASH}")
    # Filter: the cancellations only.
    page.get_by_label("Ticket cancelled").check()
    expect(page.locator(".event")).to_have_count(3)
    expect(page.get_by_role("status").filter(has_text="Events")).to_have_text(
        f"Events 1{DASH}3 of 3, newest first."
    )
    for event in page.locator(".event").all():
        expect(event).to_contain_text('Cancelled by anonymous: "not wanted"')
    page.get_by_label("Ticket filed").check()
    expect(page.get_by_role("status").filter(has_text="Events")).to_have_text(
        f"Events 51{DASH}67 of 67, newest first."
    )
    page.get_by_label("Ticket cancelled").uncheck()
    expect(page.get_by_role("status").filter(has_text="Events")).to_have_text(
        f"Events 51{DASH}64 of 64, newest first."
    )
    expect(page.locator(".event").first).to_contain_text('Filed by anonymous: "Ticket 63"')
    assert "event_type=ticket_created" in page.url
    # An event about a ticket links to it.
    page.locator(".event").first.get_by_role("link").click()
    expect(page.locator("main h1")).to_have_text("Ticket 63")


def test_no_page_reads_deeper_than_half_the_log(
    fresh_site: Site, open_context: OpenContext
) -> None:
    """The newest page and the live cursor come from the newest end of the log (no offset),
    every other page from the nearer end: an OFFSET costs in proportion to its depth."""
    site = fresh_site
    for n in range(120):
        site.file(query_context={"tags": [], "description": f"Ticket {n}"})
    total = site.call("GET", "audit?limit=1")["total"]
    assert total == 121  # service_started and 120 filed: pages 0-49, 50-99, 100-120
    context = open_context(site)
    asked: list[dict[str, list[str]]] = []
    context.on(
        "request",
        lambda request: (
            asked.append(parse_qs(urlsplit(request.url).query))
            if "/api/v1/audit" in request.url
            else None
        ),
    )
    page = context.new_page()
    page.goto(f"{site.url}#/audit")
    page.locator("#live").wait_for()
    caption = page.get_by_role("status").filter(has_text="Events")
    expect(caption).to_have_text(f"Events 101{DASH}121 of 121, newest first.")
    for button, shown in (
        ("Older", "51\u2013100"),
        ("Older", "1\u201350"),
        ("Newer", "51\u2013100"),
    ):
        page.get_by_role("button", name=button).click()
        expect(caption).to_have_text(f"Events {shown} of 121, newest first.")
    everything = site.call("GET", "audit?limit=1000")["events"]
    assert event_ids(page) == [e["id"] for e in everything[50:100]][::-1]
    offsets = [int(query.get("offset", ["0"])[0]) for query in asked]
    assert len(offsets) >= 7 and max(offsets) <= total // 2, asked
    # The newest page and the live cursor, with no offset at all.
    assert {"sort": ["newest"], "limit": ["50"]} in asked
    assert {"sort": ["newest"], "limit": ["1"]} in asked


def test_a_page_of_large_events_shows_them_all(
    fresh_site: Site, open_page: Callable[..., Page]
) -> None:
    """An answer stops at about 1 MiB however many events were asked for; the page goes on
    at `next` until it holds its 50, so no event between two pages is skipped."""
    site = fresh_site
    for number in range(10):
        ticket = site.call("POST", "tickets", json=largest_ticket(number))
        site.call("POST", f"tickets/{ticket['id']}/fail", json={"error": LARGEST_TEXT})
    answer = site.call("GET", "audit?limit=50")
    assert answer["total"] == 21  # service_started, 10 filed, 10 failed
    ids = [event["id"] for event in answer["events"]]
    assert answer["next"] is not None  # the API cut it short of its 21 events
    while answer["next"] is not None:
        answer = site.call("GET", answer["next"].removeprefix("/api/v1/"))
        ids += [event["id"] for event in answer["events"]]
    assert len(ids) == 21
    page = open_page(site, None, "#/audit")
    expect(page.get_by_role("status").filter(has_text="Events")).to_have_text(
        f"Events 1{DASH}21 of 21, newest first."
    )
    expect(page.locator(".event")).to_have_count(21)
    assert event_ids(page) == ids[::-1]
