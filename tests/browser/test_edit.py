"""Changing one's mind in a real browser: editing a pending ticket in the new-request form,
an admin moving tickets up and down the queue (mouse and keyboard), and filing a
cancelled or failed ticket again."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Dialog, Locator, Page, expect

from chalicelib.keys.identity import Role
from tests.browser.conftest import BrowserLog, Site, unique_tag
from tests.browser.test_live import next_poll
from tests.browser.test_safety import (
    HOSTILE_NAME,
    IMG,
    SCRIPT,
    SVG,
    add_hostile_user,
    nothing_ran,
    watch_dialogs,
)
from tests.browser.test_ticket_page import field
from tests.browser.test_usable import tab_to


def form_values(page: Page) -> list[str]:
    return [
        page.get_by_label(name).input_value()
        for name in ("Description", "Tags", "Destination", "Priority")
    ]


def test_the_owner_edits_a_pending_ticket_in_the_form_pre_filled(
    site: Site, open_page: Callable[..., Page]
) -> None:
    tag = unique_tag()
    ticket = site.file(
        "bob",
        priority=120,
        query_context={"tags": [tag, "flac"], "description": "Abbey Road"},
        dest_path="/media/music/beatles",
    )
    page = open_page(site, "bob", f"#/tickets/{ticket['id']}")
    page.get_by_role("link", name="Edit request").click()
    expect(page.locator("main h1")).to_have_text("Edit request")
    assert form_values(page) == ["Abbey Road", f"{tag}, flac", "/media/music/beatles", "120"]
    page.get_by_label("Tags").fill(f"{tag}, mp3")
    page.get_by_label("Priority").fill("250")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("main h1")).to_have_text("Abbey Road")
    expect(page.get_by_role("status").filter(has_text="Changes saved.")).to_be_visible()
    expect(field(page, "Priority")).to_have_text("250")
    expect(field(page, "Tags").locator("li")).to_have_text([tag, "mp3"])
    timeline = page.locator(".timeline li")
    expect(timeline).to_have_count(2)
    expect(timeline.nth(1)).to_contain_text(
        f'Edited by bob: Priority 120 → 250; Tags ["{tag}","flac"] → ["{tag}","mp3"]'
    )
    now = site.call("GET", f"tickets/{ticket['id']}", "bob")
    assert (now["priority"], now["query_context"]["tags"], now["state"]) == (
        250,
        [tag, "mp3"],
        "pending",
    )
    assert now["id"] == ticket["id"] and now["created_at"] == ticket["created_at"]


def test_the_apis_field_errors_show_beside_the_fields_of_the_edit(
    site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(400)
    ticket = site.file("bob", query_context={"tags": [unique_tag()], "description": "Help!"})
    page = open_page(site, "bob", f"#/tickets/{ticket['id']}/edit")
    expect(page.get_by_label("Description")).to_have_value("Help!")
    page.get_by_label("Destination").fill("media/music")
    page.get_by_label("Priority").fill("70000")
    page.get_by_role("button", name="Save changes").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_be_focused()
    expect(summary.locator("li")).to_have_count(2)
    destination = page.locator(".field", has=page.get_by_label("Destination"))
    expect(destination.locator(".field-error")).to_contain_text("must be an absolute path")
    expect(page.get_by_label("Destination")).to_have_attribute("aria-invalid", "true")
    priority = page.locator(".field", has=page.get_by_label("Priority"))
    expect(priority.locator(".field-error")).to_contain_text("less than or equal to 65535")
    assert site.call("GET", f"tickets/{ticket['id']}", "bob") == ticket  # nothing changed
    page.get_by_label("Destination").fill("/media/music/help")
    page.get_by_label("Priority").fill("3")
    page.get_by_role("button", name="Save changes").click()
    expect(field(page, "Destination")).to_have_text("/media/music/help")


def test_a_412_is_explained_as_for_cancel_and_the_form_shows_the_ticket_as_it_is(
    site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(412)
    ticket = site.file("bob", query_context={"tags": [unique_tag()], "description": "Revolver"})
    page = open_page(site, "bob", f"#/tickets/{ticket['id']}/edit")
    expect(page.get_by_label("Priority")).to_have_value("100")
    page.get_by_label("Description").fill("Revolver, mono")
    # Meanwhile an admin moves it up the queue with curl.
    site.call("PATCH", f"tickets/{ticket['id']}", "alice", json={"priority": 700})
    page.get_by_role("button", name="Save changes").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_contain_text(
        "Someone else changed this ticket after you opened it: it is now pending. Nothing was"
        " changed; the form now shows it as it is."
    )
    expect(page.get_by_label("Priority")).to_have_value("700")
    expect(page.get_by_label("Description")).to_have_value("Revolver")
    assert site.call("GET", f"tickets/{ticket['id']}", "bob")["query_context"]["description"] == (
        "Revolver"
    )
    # Saved again from the ticket as it now is, the edit goes through.
    page.get_by_label("Description").fill("Revolver, mono")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("main h1")).to_have_text("Revolver, mono")
    expect(field(page, "Priority")).to_have_text("700")


def test_a_ticket_cancelled_meanwhile_is_named_and_cannot_be_saved(
    site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(412, 409)
    ticket = site.file("bob", query_context={"tags": [unique_tag()], "description": "Let It Be"})
    page = open_page(site, "bob", f"#/tickets/{ticket['id']}/edit")
    expect(page.get_by_label("Priority")).to_have_value("100")
    site.call("DELETE", f"tickets/{ticket['id']}", "alice")
    page.get_by_label("Priority").fill("5")
    page.get_by_role("button", name="Save changes").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_contain_text("it is now cancelled. Nothing was changed")
    page.get_by_label("Priority").fill("6")
    page.get_by_role("button", name="Save changes").click()
    expect(summary).to_contain_text("is no longer pending (it is cancelled)")
    assert "cancelled" in site.call("GET", f"tickets/{ticket['id']}", "bob")["state"]


def edit_link(page: Page) -> Locator:
    return page.get_by_role("link", name="Edit request")


def again_link(page: Page) -> Locator:
    return page.get_by_role("link", name="File again")


def test_edit_is_offered_to_the_owner_and_admins_on_pending_tickets_only(
    site: Site, open_page: Callable[..., Page]
) -> None:
    pending = site.file("bob", query_context={"tags": [unique_tag()], "description": "Mine"})
    done = site.file("bob", query_context={"tags": [unique_tag()], "description": "Done"})
    site.call("POST", f"tickets/{done['id']}/complete", "alice")
    page = open_page(site, "carol", f"#/tickets/{pending['id']}")
    expect(page.locator("main h1")).to_have_text("Mine")
    expect(edit_link(page)).to_have_count(0)
    page = open_page(site, "alice", f"#/tickets/{pending['id']}")
    expect(edit_link(page)).to_be_visible()
    expect(again_link(page)).to_have_count(0)
    page = open_page(site, "bob", f"#/tickets/{done['id']}")
    expect(page.locator("main h1 + .badge")).to_have_text("Completed")
    expect(edit_link(page)).to_have_count(0)
    expect(again_link(page)).to_have_count(0)  # a completed ticket got what it asked for


def file_again(page: Page, site: Site, old: dict[str, Any], user: str) -> dict[str, Any]:
    """Press File again on `old`'s page, file the pre-filled form; return the new ticket."""
    page.goto(f"{site.url}#/tickets/{old['id']}")
    expect(page.locator("main h1")).to_have_text(old["query_context"]["description"])
    again_link(page).click()
    expect(page.locator("main h1")).to_have_text("New request")
    assert form_values(page) == [
        old["query_context"]["description"],
        ", ".join(old["query_context"]["tags"]),
        old["dest_path"],
        str(old["priority"]),
    ]
    page.get_by_role("button", name="File request").click()
    expect(page.get_by_role("status").filter(has_text="Request filed.")).to_be_visible()
    expect(page.locator("main h1 + .badge")).to_have_text("Pending")
    new_id = page.url.rsplit("/", 1)[-1]
    assert new_id != old["id"]
    new: dict[str, Any] = site.call("GET", f"tickets/{new_id}", user)
    return new


def test_a_cancelled_or_failed_ticket_is_filed_again_and_stays_as_it_was(
    site: Site, open_page: Callable[..., Page]
) -> None:
    tag = unique_tag()
    cancelled = site.file(
        "bob",
        priority=42,
        query_context={"tags": [tag, "flac"], "description": "Rubber Soul"},
        dest_path="/media/music/rubber-soul",
    )
    failed = site.file("bob", query_context={"tags": [tag], "description": "Help!"})
    site.call("DELETE", f"tickets/{cancelled['id']}", "bob", json={"reason": "later"})
    site.call("POST", f"tickets/{failed['id']}/fail", "alice", json={"error": "no seeders"})
    cancelled = site.call("GET", f"tickets/{cancelled['id']}", "bob")
    failed = site.call("GET", f"tickets/{failed['id']}", "bob")
    page = open_page(site, "bob", f"#/tickets/{cancelled['id']}")
    for old in (cancelled, failed):
        new = file_again(page, site, old, "bob")
        for name in ("priority", "query_context", "dest_path"):
            assert new[name] == old[name], name
        assert (new["state"], new["created_by"]) == ("pending", "bob")
        assert site.call("GET", f"tickets/{old['id']}", "bob") == old  # as it was
    assert site.call("GET", f"tickets?tag={tag}", "bob")["total"] == 4


def queue_order(page: Page) -> list[str | None]:
    return [row.get_attribute("data-id") for row in page.locator("[data-ticket-row]").all()]


def priorities(site: Site, *tickets: dict[str, Any]) -> list[int]:
    return [site.call("GET", f"tickets/{t['id']}", "alice")["priority"] for t in tickets]


def test_an_admin_moves_pending_tickets_up_and_down_with_mouse_and_keyboard(
    site: Site, open_page: Callable[..., Page]
) -> None:
    tag = unique_tag()
    first, second, third = (
        site.file("bob", priority=p, query_context={"tags": [tag], "description": name})
        for p, name in ((300, "First"), (200, "Second"), (100, "Third"))
    )
    page = open_page(site, "alice", f"#/?tag={tag}")
    expect(page.locator("[data-ticket-row]")).to_have_count(3)
    reorder = page.get_by_role("button", name="Reorder")
    expect(reorder).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_role("button", name="Move up: Third")).to_have_count(0)
    reorder.click()  # the mouse
    expect(reorder).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="Move up: First")).to_be_disabled()
    expect(page.get_by_role("button", name="Move down: Third")).to_be_disabled()
    page.get_by_role("button", name="Move up: Third").click()
    expect(page.locator("[data-ticket-row]").nth(1)).to_have_attribute("data-id", third["id"])
    assert priorities(site, first, second, third) == [300, 200, 201]
    # The keyboard: the focus stays on the button, so Enter moves it on, to the top.
    up = page.get_by_role("button", name="Move up: Third")
    expect(up).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("[data-ticket-row]").first).to_have_attribute("data-id", third["id"])
    assert priorities(site, third) == [301]
    expect(up).to_be_disabled()  # at the top: the focus goes to its title
    expect(page.get_by_role("link", name="Third")).to_be_focused()
    tab_to(page, page.get_by_role("button", name="Move down: Third"))
    page.keyboard.press("Space")
    assert_order = [first["id"], third["id"], second["id"]]
    expect(page.locator("[data-ticket-row]").nth(1)).to_have_attribute("data-id", third["id"])
    assert queue_order(page) == assert_order
    assert priorities(site, first, second, third) == [300, 200, 299]
    expect(page.get_by_role("button", name="Move down: Third")).to_be_focused()
    # Each move is an edit of its priority, in the audit log like any other.
    events = site.call("GET", f"audit?event_type=ticket_updated&ticket_id={third['id']}", "alice")
    assert [e["data"]["changes"]["priority"]["new"] for e in events["events"]] == [201, 301, 299]
    assert {e["data"]["actor"] for e in events["events"]} == {"alice"}
    # Reorder is a toggle, from the keyboard too: off again, the arrows go.
    tab_to(page, reorder, backwards=True)
    page.keyboard.press("Enter")
    expect(reorder).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_role("button", name="Move down: Third")).to_have_count(0)


def test_reorder_is_for_admins_on_the_waiting_tickets_in_queue_order(
    site: Site, open_page: Callable[..., Page]
) -> None:
    tag = unique_tag()
    site.file("bob", query_context={"tags": [tag], "description": "Waiting"})
    page = open_page(site, "bob", f"#/?tag={tag}")
    expect(page.locator("[data-ticket-row]")).to_have_count(1)
    expect(page.get_by_role("button", name="Reorder")).to_have_count(0)
    page = open_page(site, "alice", f"#/?tag={tag}")
    expect(page.get_by_role("button", name="Reorder")).to_be_visible()
    for query in (f"tag={tag}&sort=newest", f"tag={tag}&state=", f"tag={tag}&state=failed"):
        page.goto(f"{site.url}#/?{query}")
        expect(page.locator("main h1")).to_have_text("Queue")
        expect(page.locator(".summary")).to_contain_text(" ")
        expect(page.get_by_role("button", name="Reorder")).to_be_hidden()


def test_pages_follow_an_edit_made_elsewhere(site: Site, open_page: Callable[..., Page]) -> None:
    # An edit changes no count: a user's page also watches its own tickets' newest event.
    tag = unique_tag()
    ticket = site.file("bob", priority=10, query_context={"tags": [tag], "description": "Moved"})
    mine = open_page(site, "bob", f"#/tickets/{ticket['id']}", clock=True)
    queue = open_page(site, "alice", f"#/?tag={tag}", clock=True)
    site.call("PATCH", f"tickets/{ticket['id']}", "alice", json={"priority": 77})
    next_poll(mine, "audit?sort=newest&limit=1")
    expect(field(mine, "Priority")).to_have_text("77")
    expect(mine.locator(".timeline li").nth(1)).to_contain_text("Edited by alice: Priority 10 → 77")
    next_poll(queue, "audit?after=")
    expect(queue.locator("[data-ticket-row]")).to_contain_text("Priority 77")


def test_hostile_text_in_an_edit_is_shown_as_text_and_runs_nothing(
    fresh_site: Site, open_page: Callable[..., Page]
) -> None:
    site = fresh_site
    site.add_key("alice", Role.ADMIN)
    add_hostile_user(site)
    ticket = site.file("hostile", query_context={"tags": ["x"], "description": "Plain"})
    hostile = {"query_context": {"tags": [IMG, SVG], "description": SCRIPT}, "dest_path": "/a"}
    site.call("PATCH", f"tickets/{ticket['id']}", "hostile", json=hostile)
    page = open_page(site, "hostile", f"#/tickets/{ticket['id']}")
    dialogs: list[Dialog] = []
    watch_dialogs(page, dialogs)
    expect(page.locator("main h1")).to_have_text(SCRIPT)
    expect(page.locator(".timeline li").nth(1)).to_contain_text(
        f'Edited by {HOSTILE_NAME}: Tags ["x"] → {json.dumps([IMG, SVG], separators=(",", ":"))}'
    )
    nothing_ran(page, dialogs)
    page.get_by_role("link", name="Edit request").click()
    expect(page.get_by_label("Description")).to_have_value(SCRIPT)
    expect(page.get_by_label("Tags")).to_have_value(f"{IMG}, {SVG}")
    nothing_ran(page, dialogs)
    page.goto(f"{site.url}#/tickets/{ticket['id']}")
    page.get_by_role("button", name="Cancel ticket").click()
    expect(page.locator("main h1 + .badge")).to_have_text("Cancelled")
    page.get_by_role("link", name="File again").click()
    expect(page.get_by_label("Description")).to_have_value(SCRIPT)
    nothing_ran(page, dialogs)
