"""The queue in a real browser: order, every field, filters, counts, more pages."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import Site, unique_tag


def rows(page: Page) -> list[str]:
    return page.locator("[data-ticket-row] .ticket-title").all_inner_texts()


def show(page: Page, site: Site, query: str) -> None:
    page.goto(f"{site.url}#/?{query}")
    page.locator("main h1").wait_for()


def test_the_queue_shows_tickets_in_queue_order_with_every_field(
    site: Site, open_page: Callable[..., Page]
) -> None:
    tag = unique_tag()
    low = site.file("bob", priority=5, query_context={"tags": [tag], "description": "Low one"})
    high = site.file(
        "carol",
        priority=900,
        query_context={"tags": [tag, "flac"], "description": "Abbey Road, FLAC"},
        dest_path="/media/music/beatles",
    )
    middle = site.file("bob", priority=100, query_context={"tags": [tag], "description": "Middle"})
    page = open_page(site, "alice", f"#/?tag={tag}")
    expect(page.locator("[data-ticket-row]")).to_have_count(3)
    assert rows(page) == ["Abbey Road, FLAC", "Middle", "Low one"]
    first = page.locator(f'[data-id="{high["id"]}"]')
    for text in ("Pending", "Priority 900", tag, "flac", "/media/music/beatles", "by carol"):
        expect(first).to_contain_text(text)
    expect(first.locator("time")).to_have_text("just now")
    expect(first.locator("time")).to_have_attribute("datetime", high["created_at"])
    expect(page.get_by_role("status").filter(has_text="Showing")).to_have_text(
        "Showing 3 of 3 tickets."
    )
    # Newest first: the last one filed comes first.
    page.get_by_label("Order").select_option("newest")
    expect(page.locator("[data-ticket-row]").first).to_have_attribute("data-id", middle["id"])
    assert [r.get_attribute("data-id") for r in page.locator("[data-ticket-row]").all()] == [
        middle["id"],
        high["id"],
        low["id"],
    ]
    assert "sort=newest" in page.url  # the filter is in the address, so reload keeps it


def test_filters_by_several_states_tag_and_creator_with_counts(
    site: Site, open_page: Callable[..., Page]
) -> None:
    tag = unique_tag()
    waiting = site.file("bob", query_context={"tags": [tag], "description": "Waiting"})
    done = site.file("bob", query_context={"tags": [tag], "description": "Done"})
    dropped = site.file("carol", query_context={"tags": [tag], "description": "Dropped"})
    broken = site.file("carol", query_context={"tags": [tag], "description": "Broken"})
    site.call("POST", f"tickets/{done['id']}/complete", "alice")
    site.call("DELETE", f"tickets/{dropped['id']}", "carol")
    site.call("POST", f"tickets/{broken['id']}/fail", "alice", json={"error": "no seeders"})
    page = open_page(site, "alice", f"#/?tag={tag}")
    # The default view is the waiting tickets; the chips count every state.
    expect(page.locator("[data-ticket-row]")).to_have_count(1)
    assert rows(page) == ["Waiting"]
    for state in ("Pending", "Completed", "Cancelled", "Failed"):
        expect(page.locator(".chip", has_text=state).locator(".count")).to_have_text("1")
    page.get_by_label("Pending").uncheck()
    page.get_by_label("Cancelled").check()
    page.get_by_label("Failed").check()
    expect(page.locator("[data-ticket-row]")).to_have_count(2)
    assert sorted(rows(page)) == ["Broken", "Dropped"]
    expect(page.locator(".badge.failed")).to_have_count(1)
    # Creator, typed and applied with Enter.
    page.get_by_label("Created by").fill("carol")
    page.get_by_label("Created by").press("Enter")
    expect(page.locator("[data-ticket-row]")).to_have_count(2)
    page.get_by_label("Failed").uncheck()
    expect(page.locator("[data-ticket-row]")).to_have_count(1)
    assert rows(page) == ["Dropped"]
    page.get_by_label("Created by").fill("bob")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("status").filter(has_text="No tickets")).to_be_visible()
    # No state ticked: every state.
    page.get_by_label("Cancelled").uncheck()
    expect(page.locator("[data-ticket-row]")).to_have_count(2)
    assert sorted(rows(page)) == ["Done", "Waiting"]
    assert waiting["id"] in page.content()
    # Reloading keeps the filters (they live in the address).
    page.reload()
    expect(page.locator("[data-ticket-row]")).to_have_count(2)
    expect(page.get_by_label("Created by")).to_have_value("bob")


def test_more_pages_come_through_next(site: Site, open_page: Callable[..., Page]) -> None:
    tag = unique_tag()
    for n in range(57):
        site.file("bob", priority=n, query_context={"tags": [tag], "description": f"Ticket {n}"})
    page = open_page(site, "bob", f"#/?tag={tag}")
    expect(page.locator("[data-ticket-row]")).to_have_count(50)
    expect(page.get_by_role("status").filter(has_text="Showing")).to_have_text(
        "Showing 50 of 57 tickets."
    )
    requests_seen: list[str] = []
    page.on("request", lambda request: requests_seen.append(request.url))
    page.get_by_role("button", name="Show more").click()
    expect(page.locator("[data-ticket-row]")).to_have_count(57)
    expect(page.get_by_role("button", name="Show more")).to_have_count(0)
    assert rows(page) == [f"Ticket {n}" for n in range(56, -1, -1)]
    assert any("after=" in url for url in requests_seen)  # the API's next link, followed
    # Focus moves to the first ticket of the new page.
    expect(page.locator("[data-ticket-row]").nth(50).locator("a")).to_be_focused()
