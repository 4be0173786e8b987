"""Live updates in a real browser: what another browser or curl does shows up without a
reload, at the next poll, which comes every two seconds (thirty while the tab is hidden).

The pages run on a stopped clock (Playwright's fake timers), so the test, not the
machine's speed, decides when two seconds have passed: letting two seconds pass once must
be enough for a change to show.
"""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import OpenContext, Site, unique_tag

POLL_MS = 2000


def next_poll(page: Page, fragment: str) -> None:
    """Let two seconds pass on the page's clock, and wait for the poll it makes."""
    with page.expect_response(lambda response: fragment in response.url):
        page.clock.run_for(POLL_MS)


def set_hidden(page: Page, hidden: bool) -> None:
    """Make the page believe its tab was hidden (or shown again), as a browser tells it."""
    page.evaluate(
        """(hidden) => {
        const state = hidden ? 'hidden' : 'visible';
        const define = (name, value) =>
            Object.defineProperty(document, name, { configurable: true, get: () => value });
        define('hidden', hidden);
        define('visibilityState', state);
        document.dispatchEvent(new Event('visibilitychange'));
    }""",
        hidden,
    )


def mark_document(page: Page) -> None:
    page.evaluate("window.notReloaded = true")


def still_same_document(page: Page) -> bool:
    return bool(page.evaluate("window.notReloaded === true"))


def test_an_admin_sees_tickets_filed_and_cancelled_elsewhere(
    site: Site, open_page: Callable[..., Page], open_context: OpenContext
) -> None:
    tag = unique_tag()
    watcher = open_page(site, "alice", f"#/?tag={tag}&state=", clock=True)
    expect(watcher.get_by_role("status").filter(has_text="No tickets")).to_be_visible()
    mark_document(watcher)
    # bob files a ticket in another browser.
    other = open_context(site, "bob").new_page()
    other.goto(f"{site.url}#/new")
    other.get_by_label("Description").fill("Filed in another browser")
    other.get_by_label("Tags").fill(tag)
    other.get_by_label("Destination").fill("/media/elsewhere")
    other.get_by_role("button", name="File request").click()
    expect(other.locator("main h1")).to_have_text("Filed in another browser")
    next_poll(watcher, "audit?after=")
    row = watcher.locator("[data-ticket-row]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Filed in another browser")
    expect(row).to_have_class("ticket fresh")  # highlighted as new
    # curl cancels it.
    ticket_id = row.get_attribute("data-id")
    site.call("DELETE", f"tickets/{ticket_id}", "bob")
    next_poll(watcher, "audit?after=")
    expect(row.locator(".badge")).to_have_text("Cancelled")
    expect(watcher.locator(".chip", has_text="Cancelled").locator(".count")).to_have_text("1")
    assert still_same_document(watcher)


def test_a_user_sees_others_tickets_come_and_go(site: Site, open_page: Callable[..., Page]) -> None:
    # A user's audit log shows only its own tickets, so its page watches the counts.
    tag = unique_tag()
    watcher = open_page(site, "carol", f"#/?tag={tag}&state=", clock=True)
    mark_document(watcher)
    ticket = site.file("alice", query_context={"tags": [tag], "description": "Alice's"})
    next_poll(watcher, "state=pending&limit=1")
    expect(watcher.locator("[data-ticket-row]")).to_contain_text("Alice's")
    site.call("DELETE", f"tickets/{ticket['id']}", "alice")
    next_poll(watcher, "state=pending&limit=1")
    expect(watcher.locator("[data-ticket-row] .badge")).to_have_text("Cancelled")
    # Filed and cancelled between two polls: the counts still move.
    second = site.file("bob", query_context={"tags": [tag], "description": "Brief"})
    site.call("DELETE", f"tickets/{second['id']}", "bob")
    next_poll(watcher, "state=pending&limit=1")
    expect(watcher.locator("[data-ticket-row]")).to_have_count(2)
    assert still_same_document(watcher)


def test_a_ticket_page_follows_its_ticket(site: Site, open_page: Callable[..., Page]) -> None:
    ticket = site.file("bob", query_context={"tags": [unique_tag()], "description": "Followed"})
    watcher = open_page(site, "bob", f"#/tickets/{ticket['id']}", clock=True)
    watcher.get_by_label("Reason for cancelling (optional)").fill("half-typed")
    site.call("POST", f"tickets/{ticket['id']}/complete", "alice")
    next_poll(watcher, "state=pending&limit=1")
    expect(watcher.get_by_role("alert")).to_have_text("This ticket was just completed.")
    expect(watcher.locator("main h1 + .badge")).to_have_text("Completed")
    expect(watcher.locator(".timeline li")).to_have_count(2)
    expect(watcher.get_by_label("Reason for cancelling (optional)")).to_have_count(0)


def test_one_poll_every_two_seconds_and_rarely_while_hidden(
    site: Site, open_page: Callable[..., Page]
) -> None:
    page = open_page(site, "alice", clock=True)
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/api/v1/" in r.url else None)
    for _ in range(5):
        next_poll(page, "audit?after=")
    # One request per poll while nothing changes: the audit log after the last event.
    assert len(polls) == 5 and all("audit?after=" in url for url in polls)
    set_hidden(page, True)
    polls.clear()
    page.clock.run_for(29_000)
    page.wait_for_timeout(300)  # room for a request that should not come
    assert polls == []
    with page.expect_response(lambda response: "audit?after=" in response.url):
        page.clock.run_for(1_000)
    # Back in view: it polls at once.
    with page.expect_response(lambda response: "audit?after=" in response.url):
        set_hidden(page, False)


def test_a_redraw_leaves_the_keyboard_focus_where_it_was(
    fresh_site: Site, open_page: Callable[..., Page]
) -> None:
    """Someone tabbing through the queue or the audit log keeps their place when a change
    made elsewhere redraws the list: the focus comes back to the same control."""
    site = fresh_site
    for n in range(51):
        site.file(query_context={"tags": [], "description": f"No {n}"})
    page = open_page(site, None, clock=True)
    more = page.get_by_role("button", name="Show more")
    more.focus()
    site.file(query_context={"tags": [], "description": "Filed meanwhile"})
    next_poll(page, "audit?after=")
    showing = page.get_by_role("status").filter(has_text="Showing")
    expect(showing).to_have_text("Showing 50 of 52 tickets.")
    expect(more).to_be_focused()
    page.goto(f"{site.url}#/audit")
    newest = page.locator(".event").first
    expect(newest).to_contain_text("Filed meanwhile")
    newest.get_by_role("link").focus()
    event_id = newest.get_attribute("data-event-id")
    site.file(query_context={"tags": [], "description": "Filed later"})
    next_poll(page, "audit?after=")
    expect(page.locator(".event").first).to_contain_text("Filed later")
    expect(page.locator(f'[data-event-id="{event_id}"] a')).to_be_focused()
