"""Notifications in a real browser: the view loads when first opened; an admin adds a
webhook (its secret shown once), tests and removes it; a user's "notify me" offers only
that user's tickets' events. The targets point at this machine, which the server's rules
refuse, and test servers send nothing at all."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import BrowserLog, Site


def test_an_admin_adds_tests_and_removes_a_webhook(
    fresh_site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    page = open_page(fresh_site)  # open mode: the anonymous admin
    loaded: list[str] = []
    page.on("request", lambda request: loaded.append(request.url))
    page.get_by_role("link", name="Notifications").click()
    expect(page.locator("main h1")).to_have_text("Notifications")
    assert any(url.endswith("/ui/notifications.js") for url in loaded)  # on demand
    expect(page.locator(".events")).to_contain_text("None yet.")
    page.get_by_label("Where to send").fill("http://localhost:9/hooks/secretpath")
    page.get_by_label("Send as").select_option("webhook")
    page.get_by_label("Ticket cancelled").check()
    page.get_by_role("button", name="Add").click()
    expect(page.locator(".notice.ok")).to_contain_text("whsec_")
    row = page.locator("[data-target]")
    expect(row).to_contain_text("http://localhost:9/***")
    expect(row).to_contain_text("Ticket cancelled")
    expect(row).not_to_contain_text("secretpath")
    row.get_by_role("button", name="Send test").click()
    # The test servers send nothing (TORRENTINO_NOTIFY_DELIVERY=0): the page says why.
    said = "The test did not get through: this server sends no"
    expect(page.locator("#toast")).to_contain_text(said)
    row.get_by_role("button", name="Deliveries").click()
    expect(row).to_contain_text("test: Failed, 1 attempt")
    page.on("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Remove").click()
    expect(page.locator(".events")).to_contain_text("None yet.")
    page.reload()
    page.locator("main h1").wait_for()
    expect(page.locator(".notice.ok")).to_have_count(0)  # the secret is gone for good
    console.allow()


def test_a_user_is_notified_of_their_own_requests_only(
    site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    page = open_page(site, "carol", "#/notifications")
    expect(page.locator("main h1")).to_have_text("Notifications")
    expect(page.locator("main")).to_contain_text("Be told when your requests are done.")
    chips = page.locator(".chips .chip")
    expect(chips).to_have_count(3)  # the ticket events, nothing else
    expect(page.get_by_label("Ticket state changed")).to_be_checked()
    expect(page.get_by_label("Ticket cancelled")).to_be_checked()
    console.allow(400)
    page.get_by_label("Where to send").fill("nosuchservice://example")
    page.get_by_role("button", name="Add").click()
    expect(page.locator(".field-error")).to_contain_text("Apprise does not know")
    page.get_by_label("Where to send").fill("ntfy://localhost:9/carol")
    page.get_by_role("button", name="Add").click()
    row = page.locator("[data-target]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("ntfy://localhost:9/***")
    expect(row).to_contain_text("Ticket cancelled, Ticket state changed")  # sorted
    listed = site.call("GET", "notification-targets", "carol")["targets"]
    assert [(t["owner"], t["scope"]) for t in listed] == [("carol", "own_tickets")]
    site.call("DELETE", f"notification-targets/{listed[0]['id']}", "carol")
