"""Safety in a real browser: every text from users is shown as text and runs nothing,
and the browser enforces the page's Content-Security-Policy."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from playwright.sync_api import Dialog, Page, expect

from chalicelib.keys.identity import Role, hash_key, new_key
from chalicelib.timestamps import format_timestamp, utc_now
from tests.browser.conftest import BrowserLog, OpenContext, Site

IMG = '<img src=x onerror="window.xssRan=1;alert(1)">'
SVG = '<svg onload="window.xssRan=2;alert(2)"></svg>'
SCRIPT = '"><script>window.xssRan=3;alert(3)</script>'
# The key CLI refuses such a name; a row written straight into the table shows that the
# page would still show it as text.
HOSTILE_NAME = '<img src=x onerror="window.xssRan=4">'


def add_hostile_user(site: Site) -> str:
    key_id, key = new_key()
    conn = sqlite3.connect(site.server.db_path)
    try:
        with conn:
            conn.execute(
                "INSERT INTO api_keys (id, user, role, secret_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key_id, HOSTILE_NAME, Role.USER.value, hash_key(key), format_timestamp(utc_now())),
            )
    finally:
        conn.close()
    site.keys["hostile"] = key
    return key


def watch_dialogs(page: Page, dialogs: list[Dialog]) -> None:
    """Record (and dismiss) every alert the page would open."""

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog)
        dialog.dismiss()

    page.on("dialog", record)


def nothing_ran(page: Page, dialogs: list[Dialog]) -> None:
    assert dialogs == []
    assert page.evaluate("window.xssRan") is None
    for tag in ("img", "svg", "script"):
        assert page.locator(f"main {tag}, #account {tag}").count() == 0, tag


def test_user_text_is_shown_as_text_and_runs_nothing(
    fresh_site: Site, open_page: Callable[..., Page]
) -> None:
    site = fresh_site
    site.add_key("alice", Role.ADMIN)
    add_hostile_user(site)
    cancelled = site.file(
        "hostile",
        query_context={"tags": [IMG, SVG], "description": SCRIPT},
        dest_path=f"/media/{IMG}",
    )
    site.call("DELETE", f"tickets/{cancelled['id']}", "hostile", json={"reason": SVG})
    failed = site.file("hostile", query_context={"tags": ["x"], "description": IMG})
    site.call("POST", f"tickets/{failed['id']}/fail", "alice", json={"error": SCRIPT})

    page = open_page(site, "hostile", "#/?state=")
    dialogs: list[Dialog] = []
    watch_dialogs(page, dialogs)
    expect(page.locator("#account")).to_contain_text(HOSTILE_NAME)
    rows = page.locator("[data-ticket-row]")
    expect(rows).to_have_count(2)
    for text in (IMG, SVG, SCRIPT, f"/media/{IMG}", f"by {HOSTILE_NAME}"):
        expect(page.locator("main")).to_contain_text(text)
    nothing_ran(page, dialogs)

    page.goto(f"{site.url}#/tickets/{cancelled['id']}")
    expect(page.locator("main h1")).to_have_text(SCRIPT)
    expect(page.locator("main")).to_contain_text(f"Reason: {SVG}")
    expect(page.locator(".timeline")).to_contain_text(f'Cancelled by {HOSTILE_NAME}: "{SVG}"')
    nothing_ran(page, dialogs)
    page.goto(f"{site.url}#/tickets/{failed['id']}")
    expect(page.locator("main")).to_contain_text(f"Error: {SCRIPT}")
    nothing_ran(page, dialogs)

    admin = open_page(site, "alice", "#/audit")
    watch_dialogs(admin, dialogs)
    expect(admin.locator(".events")).to_contain_text(f"Filed by {HOSTILE_NAME}")
    expect(admin.locator(".events")).to_contain_text(f'Failed by alice: "{SCRIPT}"')
    nothing_ran(admin, dialogs)
    # A filter typed by a person is text too, in the field and in the address.
    admin.goto(f"{site.url}#/")
    admin.get_by_label("Created by").fill(IMG)
    admin.get_by_label("Created by").press("Enter")
    expect(admin.get_by_role("status").filter(has_text="No tickets")).to_be_visible()
    admin.reload()
    expect(admin.get_by_label("Created by")).to_have_value(IMG)
    nothing_ran(admin, dialogs)


def test_the_browser_enforces_the_content_security_policy(
    site: Site, open_context: OpenContext, console: BrowserLog
) -> None:
    # Chromium reports each blocked script, and the 404 of the probe image's made-up URL.
    console.allow_message("Executing inline script violates")
    console.allow_message("Executing inline event handler violates")
    console.allow(404)
    context = open_context(site, "bob")
    page = context.new_page()
    response = page.goto(site.url)
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    expect(page.locator("main h1")).to_have_text("Queue")
    ran = page.evaluate(
        """() => {
        const script = document.createElement('script');
        script.textContent = 'window.inlineRan = true';
        document.head.append(script);
        const img = document.createElement('img');
        img.setAttribute('onerror', 'window.handlerRan = true');
        img.src = 'x';
        document.body.append(img);
        return window.inlineRan === true;
    }"""
    )
    assert ran is False
    page.wait_for_timeout(200)  # room for the image's error event, which must run nothing
    assert page.evaluate("window.handlerRan") is None
    blocked = [m for m in console.messages if "violates the following Content Security Policy" in m]
    assert len(blocked) == 2, console.messages
