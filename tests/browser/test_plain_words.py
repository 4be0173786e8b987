"""The form and the lists in a person's words, in a real browser: priority as named levels
with the exact number still settable, field errors by the form's labels, a reason when
cancelling from the queue, audit entries naming tickets by what was asked for, only the
filters a role can use, a status message that covers no control, and what "pending" means
while nothing processes tickets."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import BrowserLog, Site, unique_tag

LEVELS = {"Low": 10, "Normal": 100, "High": 1000, "Urgent": 10000}


def tickets_tagged(site: Site, tag: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = site.call("GET", f"tickets?tag={tag}", "alice")["tickets"]
    return found


def test_priority_offers_named_levels_and_the_exact_number(
    site: Site, open_page: Callable[..., Page]
) -> None:
    page = open_page(site, "bob", "#/new")
    levels = page.get_by_role("group", name="Levels")
    number = page.get_by_label("Priority")
    expect(number).to_have_value("100")
    expect(levels.get_by_role("button", name="Normal")).to_have_attribute("aria-pressed", "true")
    for name, value in LEVELS.items():
        levels.get_by_role("button", name=name).click()
        expect(number).to_have_value(str(value))
        expect(levels.locator('[aria-pressed="true"]')).to_have_text(name)
    number.fill("150")  # between the levels: none of them is pressed
    expect(levels.locator('[aria-pressed="true"]')).to_have_count(0)
    number.fill("1000")
    expect(levels.locator('[aria-pressed="true"]')).to_have_text("High")
    expect(page.locator(".hint", has_text="65,535")).to_contain_text(
        "Low 10, Normal 100, High 1,000, Urgent 10,000"
    )
    tag = unique_tag()
    page.get_by_label("Description").fill("Urgent one")
    page.get_by_label("Tags").fill(tag)
    page.get_by_label("Destination").fill("/media/urgent")
    levels.get_by_role("button", name="Urgent").click()
    page.get_by_role("button", name="File request").click()
    expect(page.locator("main h1")).to_have_text("Urgent one")
    assert [t["priority"] for t in tickets_tagged(site, tag)] == [10000]


def test_field_errors_name_the_forms_labels_not_the_apis_fields(
    site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(400)
    page = open_page(site, "bob", "#/new")
    page.get_by_label("Description").fill("Labels")
    page.get_by_label("Destination").fill("media/music")
    page.get_by_label("Priority").fill("high")
    page.get_by_role("button", name="File request").click()
    destination = page.locator(".field", has=page.get_by_label("Destination"))
    expect(destination.locator(".field-error")).to_have_text(
        "Error: Destination must be an absolute path (start with '/')"
    )
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary.get_by_role("link", name="Destination:")).to_have_text(
        "Destination: must be an absolute path (start with '/')"
    )
    expect(summary.get_by_role("link", name="Priority:")).to_be_visible()
    for api_name in ("dest_path", "query_context", "field '"):
        expect(page.locator("main")).not_to_contain_text(api_name)


def test_cancelling_from_the_queue_can_take_a_reason(
    site: Site, open_page: Callable[..., Page]
) -> None:
    tag = unique_tag()
    ticket = site.file("carol", query_context={"tags": [tag], "description": "Not any more"})
    page = open_page(site, "carol", f"#/?tag={tag}")
    row = page.locator(f'[data-id="{ticket["id"]}"]')
    row.get_by_role("button", name="Cancel: Not any more").click()
    reason = row.get_by_label("Reason for cancelling (optional)")
    expect(reason).to_be_focused()
    reason.fill("bought the DVD")
    reason.press("Enter")  # the confirmation is a form: Enter says yes
    expect(page.locator("#toast")).to_have_text("Ticket cancelled.")
    state = site.call("GET", f"tickets/{ticket['id']}", "carol")["state"]
    assert state["cancelled"]["reason"] == "bought the DVD"
    assert state["cancelled"]["cancelled_by"] == "carol"


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_audit_entries_name_tickets_by_what_was_asked_for(
    site: Site, open_page: Callable[..., Page], user: str
) -> None:
    tag = unique_tag()
    ticket = site.file("bob", query_context={"tags": [tag], "description": f"Rubber Soul {tag}"})
    site.call("DELETE", f"tickets/{ticket['id']}", "bob", json={"reason": "have it"})
    page = open_page(site, user, "#/audit?event_type=ticket_cancelled")
    event = page.locator(".event", has_text=f"Rubber Soul {tag}")
    # The cancellation's data holds only the ticket's id: the page looked the ticket up.
    link = event.get_by_role("link")
    expect(link).to_have_text(f"Rubber Soul {tag} · ticket {ticket['id'][:8]}")
    expect(event).to_contain_text('Cancelled by bob: "have it"')
    bare = re.compile(f"Ticket {ticket['id'][:8]}")  # as it was: the id alone (case counts)
    expect(page.locator(".event").filter(has_text=bare)).to_have_count(0)
    link.click()
    expect(page.locator("main h1")).to_have_text(f"Rubber Soul {tag}")


def event_type_filters(page: Page) -> list[str]:
    boxes = page.get_by_role("group", name="Event types").get_by_role("checkbox")
    expect(boxes.first).to_be_visible()
    return [str(box.get_attribute("value")) for box in boxes.all()]


def test_each_role_is_offered_only_the_filters_it_can_use(
    site: Site, open_page: Callable[..., Page]
) -> None:
    schema = site.call("GET", "openapi.json")["components"]["schemas"]["AuditEventType"]["enum"]
    admin = open_page(site, "alice", "#/audit")
    assert event_type_filters(admin) == schema
    user = open_page(site, "bob", "#/audit?event_type=api_key_created&event_type=ticket_created")
    offered = event_type_filters(user)
    assert offered == [name for name in schema if name.startswith("ticket_")]
    assert {"api_key_created", "backup_created", "destination_added"}.isdisjoint(offered)
    # An address naming a type the user cannot see filters by the others only.
    expect(user.get_by_label("Ticket filed")).to_be_checked()


@pytest.mark.parametrize("viewport", [None, {"width": 360, "height": 740}])
def test_the_status_message_covers_no_control(
    site: Site, open_page: Callable[..., Page], viewport: dict[str, int] | None
) -> None:
    page = open_page(site, "bob", "#/new", **({"viewport": viewport} if viewport else {}))
    page.get_by_label("Description").fill("Toast check")
    page.get_by_label("Tags").fill(unique_tag())
    page.get_by_label("Destination").fill("/media/toast")
    page.get_by_role("button", name="File request").click()
    expect(page.locator("main h1")).to_have_text("Toast check")
    toast = page.locator("#toast")
    expect(toast).to_have_text("Request filed.")
    box = toast.bounding_box()
    assert box is not None
    controls = page.locator("main").locator(
        "a:visible, button:visible, input:visible, textarea:visible"
    )
    assert controls.count() >= 3  # the way back, the reason and Cancel ticket
    for control in controls.all():
        other = control.bounding_box()
        assert other is not None
        apart = (
            other["x"] >= box["x"] + box["width"]
            or other["x"] + other["width"] <= box["x"]
            or other["y"] >= box["y"] + box["height"]
            or other["y"] + other["height"] <= box["y"]
        )
        assert apart, (control.evaluate("element => element.outerHTML"), box, other)


def test_the_queue_says_what_pending_means(site: Site, open_page: Callable[..., Page]) -> None:
    page = open_page(site, "bob")
    expect(page.locator("main .lead")).to_have_text(
        "Pending means waiting: nothing processes tickets yet, so a request stays pending "
        "until it is cancelled, completed, or failed by hand."
    )
