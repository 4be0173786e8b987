"""A ticket's page in a real browser: every field, its history, cancel, complete, fail,
and what happens when someone else acted first."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import BrowserLog, Site, unique_tag


def field(page: Page, name: str) -> Locator:
    return page.locator(f'dt:text-is("{name}") + dd')


def test_every_field_the_history_and_cancelling_with_a_reason(
    site: Site, open_page: Callable[..., Page]
) -> None:
    tag = unique_tag()
    ticket = site.file(
        "bob",
        priority=321,
        query_context={"tags": [tag, "flac"], "description": "Abbey Road\nthe 2019 remaster"},
        dest_path="/media/music/beatles",
    )
    page = open_page(site, "bob", f"#/tickets/{ticket['id']}")
    expect(page.locator("main h1")).to_have_text("Abbey Road")
    expect(field(page, "Description")).to_have_text("Abbey Road\nthe 2019 remaster")
    expect(field(page, "State")).to_contain_text("Pending")
    expect(field(page, "Priority")).to_have_text("321")
    expect(field(page, "Tags").locator("li")).to_have_text([tag, "flac"])
    expect(field(page, "Destination")).to_have_text("/media/music/beatles")
    expect(field(page, "Created by")).to_have_text("bob")
    expect(field(page, "Created")).to_contain_text("just now")
    expect(field(page, "Ticket id")).to_have_text(ticket["id"])
    timeline = page.locator(".timeline li")
    expect(timeline).to_have_count(1)
    expect(timeline).to_contain_text("Filed by bob")
    # A user cannot complete or fail, even their own ticket.
    expect(page.get_by_role("button", name="Mark completed")).to_have_count(0)
    expect(page.get_by_role("button", name="Mark failed")).to_have_count(0)
    page.get_by_label("Reason for cancelling (optional)").fill("Found it on vinyl")
    page.get_by_role("button", name="Cancel ticket").click()
    expect(page.get_by_role("alert")).to_have_text("Ticket cancelled.")
    expect(page.locator("main h1 + .badge")).to_have_text("Cancelled")
    expect(field(page, "State")).to_contain_text("by bob")
    expect(field(page, "State")).to_contain_text("Reason: Found it on vinyl")
    expect(timeline).to_have_count(2)
    expect(timeline.nth(1)).to_contain_text('Cancelled by bob: "Found it on vinyl"')
    expect(page.get_by_role("button", name="Cancel ticket")).to_have_count(0)
    now = site.call("GET", f"tickets/{ticket['id']}", "bob")
    assert now["state"]["cancelled"]["reason"] == "Found it on vinyl"


def test_an_admin_completes_and_fails_tickets(site: Site, open_page: Callable[..., Page]) -> None:
    first = site.file("bob", query_context={"tags": [unique_tag()], "description": "To complete"})
    second = site.file("bob", query_context={"tags": [unique_tag()], "description": "To fail"})
    page = open_page(site, "alice", f"#/tickets/{first['id']}")
    page.get_by_role("button", name="Mark completed").click()
    expect(page.get_by_role("alert")).to_have_text("Ticket completed.")
    expect(page.locator(".timeline li").nth(1)).to_contain_text("Completed by alice")
    assert site.call("GET", f"tickets/{first['id']}", "alice")["state"] != "pending"
    page.goto(f"{site.url}#/tickets/{second['id']}")
    expect(page.locator("main h1")).to_have_text("To fail")
    # A failure needs an error text: the page says so next to the field.
    page.get_by_role("button", name="Mark failed").click()
    expect(page.get_by_label("What went wrong")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("What went wrong")).to_be_focused()
    expect(page.locator(".field-error")).to_have_text("Error: Say what went wrong: it is required.")
    page.get_by_label("What went wrong").fill("no seeders")
    page.get_by_role("button", name="Mark failed").click()
    expect(page.get_by_role("alert")).to_have_text("Ticket failed.")
    expect(field(page, "State")).to_contain_text("Error: no seeders")
    expect(page.locator(".timeline li").nth(1)).to_contain_text('Failed by alice: "no seeders"')


def test_a_412_is_explained_and_the_ticket_shown_as_it_now_is(
    site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(412)
    ticket = site.file("bob", query_context={"tags": [unique_tag()], "description": "Contested"})
    # On a stopped clock the page does not poll, so it cannot notice the change by itself.
    page = open_page(site, "alice", f"#/tickets/{ticket['id']}", clock=True)
    # Meanwhile bob cancels it with curl; the page still shows it pending.
    site.call("DELETE", f"tickets/{ticket['id']}", "bob", json={"reason": "changed my mind"})
    expect(page.locator("main h1 + .badge")).to_have_text("Pending")
    page.get_by_role("button", name="Mark completed").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Someone else changed this ticket after you opened it")
    expect(alert).to_contain_text("it is now cancelled. Nothing was changed")
    expect(page.locator("main h1 + .badge")).to_have_text("Cancelled")
    expect(field(page, "State")).to_contain_text("Reason: changed my mind")
    expect(page.get_by_role("button", name="Mark completed")).to_have_count(0)
    state = site.call("GET", f"tickets/{ticket['id']}", "alice")["state"]
    assert state["cancelled"]["cancelled_by"] == "bob"


def test_a_409_from_the_queue_is_explained_and_the_row_updated(
    site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(409)
    tag = unique_tag()
    ticket = site.file("bob", query_context={"tags": [tag], "description": "Raced"})
    page = open_page(site, "bob", f"#/?tag={tag}&state=", clock=True)
    row = page.locator(f'[data-id="{ticket["id"]}"]')
    expect(row).to_contain_text("Pending")
    site.call("DELETE", f"tickets/{ticket['id']}", "alice")  # an admin acts first
    row.get_by_role("button", name="Cancel: Raced").click()
    row.get_by_role("button", name="Yes, cancel it").click()
    expect(page.get_by_role("alert")).to_have_text(
        'Someone else acted first: "Raced" is already cancelled. Nothing was changed.'
    )
    expect(row.locator(".badge")).to_have_text("Cancelled")
    expect(row.get_by_role("button")).to_have_count(0)


def test_cancelling_from_the_queue(site: Site, open_page: Callable[..., Page]) -> None:
    tag = unique_tag()
    ticket = site.file("carol", query_context={"tags": [tag], "description": "Not needed"})
    page = open_page(site, "carol", f"#/?tag={tag}")
    row = page.locator(f'[data-id="{ticket["id"]}"]')
    row.get_by_role("button", name="Cancel: Not needed").click()
    row.get_by_role("button", name="Keep it").click()
    expect(row.get_by_role("button", name="Cancel: Not needed")).to_be_focused()
    row.get_by_role("button", name="Cancel: Not needed").click()
    row.get_by_role("button", name="Yes, cancel it").click()
    expect(page.get_by_role("status").filter(has_text="Ticket cancelled.")).to_be_visible()
    expect(page.locator("[data-ticket-row]")).to_have_count(0)  # the view shows pending ones
    state = site.call("GET", f"tickets/{ticket['id']}", "carol")["state"]
    assert state["cancelled"]["cancelled_by"] == "carol"


def test_a_user_sees_others_tickets_without_their_actions_or_history(
    site: Site, open_page: Callable[..., Page]
) -> None:
    tag = unique_tag()
    theirs = site.file("carol", query_context={"tags": [tag], "description": "Carol's"})
    mine = site.file("bob", query_context={"tags": [tag], "description": "Bob's"})
    page = open_page(site, "bob", f"#/?tag={tag}")
    expect(page.locator("[data-ticket-row]")).to_have_count(2)
    expect(page.locator(f'[data-id="{theirs["id"]}"]').get_by_role("button")).to_have_count(0)
    expect(page.locator(f'[data-id="{mine["id"]}"]').get_by_role("button")).to_have_count(1)
    page.get_by_role("link", name="Carol's").click()
    expect(page.locator("main h1")).to_have_text("Carol's")
    expect(page.get_by_role("heading", name="Actions")).to_have_count(0)
    expect(page.get_by_text("Only the person who filed this ticket and admins")).to_be_visible()
    # An admin gets every action on anyone's ticket.
    admin = open_page(site, "alice", f"#/tickets/{theirs['id']}")
    for name in ("Cancel ticket", "Mark completed", "Mark failed"):
        expect(admin.get_by_role("button", name=name)).to_be_visible()
    expect(admin.locator(".timeline li")).to_have_count(1)


def test_an_unknown_ticket_says_so(
    site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(404)
    page = open_page(site, "bob", "#/tickets/00000000-0000-4000-8000-000000000000")
    expect(page.locator("main h1")).to_have_text("No such ticket")
