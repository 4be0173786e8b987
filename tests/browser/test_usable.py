"""Usable in a real browser: axe-core finds no serious or critical problem on any view,
in light and dark; every view fits 360 px; the whole flow works from the keyboard; and
no view writes an error or a warning to the console."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Locator, Page, expect

from chalicelib.keys.identity import Role
from tests.browser.conftest import BrowserLog, OpenContext, Site, unique_tag

AXE = Axe()


@dataclass(frozen=True)
class Views:
    site: Site
    tag: str
    pending_id: str
    cancelled_id: str


@pytest.fixture(scope="module")
def views(site: Site) -> Views:
    tag = unique_tag()
    pending = site.file(
        "bob", query_context={"tags": [tag, "flac"], "description": "Abbey Road, remastered"}
    )
    cancelled = site.file("bob", query_context={"tags": [tag], "description": "Help!"})
    site.call("DELETE", f"tickets/{cancelled['id']}", "bob", json={"reason": "have it"})
    return Views(site, tag, pending["id"], cancelled["id"])


def each_view(page: Page, views: Views) -> Iterator[str]:
    """Go to every view of the page in turn (as the page's user), yielding its name."""
    site = views.site
    for name, path, heading, ready in (
        ("queue", f"#/?tag={views.tag}&state=", "Queue", "[data-ticket-row]"),
        ("new request", "#/new", "New request", "#new-description"),
        (
            "pending ticket",
            f"#/tickets/{views.pending_id}",
            "Abbey Road, remastered",
            ".timeline li",
        ),
        ("cancelled ticket", f"#/tickets/{views.cancelled_id}", "Help!", ".timeline li"),
        ("audit log", "#/audit", "Audit log", ".event"),
        ("backups", "#/backups", "Backups", "main p"),
        ("not found", "#/nowhere", "Page not found", "main p"),
    ):
        page.goto(f"{site.url}{path}")
        expect(page.locator("main h1")).to_have_text(heading)
        page.locator(ready).first.wait_for()
        yield name
    page.goto(f"{site.url}#/new")
    page.get_by_label("Destination").fill("relative/path")
    page.get_by_role("button", name="File request").click()
    page.locator(".error-summary").wait_for()
    yield "new request with errors"


def serious_violations(page: Page) -> list[str]:
    results = AXE.run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("user", ["alice", "bob"])
def test_axe_finds_no_serious_problem_on_any_view(
    views: Views,
    open_context: OpenContext,
    console: BrowserLog,
    scheme: str,
    user: str,
) -> None:
    console.allow(400)  # the form with errors
    page = open_context(views.site, user, color_scheme=scheme).new_page()
    problems = {name: serious_violations(page) for name in each_view(page, views)}
    assert len(problems) == 8
    assert {name: found for name, found in problems.items() if found} == {}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_problem_when_signing_in(
    site: Site, open_context: OpenContext, console: BrowserLog, scheme: str
) -> None:
    console.allow(401)
    page = open_context(site, color_scheme=scheme).new_page()
    page.goto(site.url)
    expect(page.locator("main h1")).to_have_text("Sign in")
    assert serious_violations(page) == []
    page.get_by_label("API key").fill("trn_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".field-error")).to_be_visible()
    assert serious_violations(page) == []


def test_no_view_writes_to_the_console(
    site: Site, views: Views, open_context: OpenContext, console: BrowserLog
) -> None:
    for user in ("alice", "bob"):
        page = open_context(site, user).new_page()
        seen = [name for name in each_view(page, views) if name != "new request with errors"]
        assert len(seen) == 7
    # The fixture fails the test on any console error or warning; here none is allowed but
    # the 400 of the form with errors, which Chromium reports for every 4xx answer.
    assert [m for m in console.messages if "status of 400" not in m] == []
    console.allow(400)


PHONE = {"width": 360, "height": 740}


def assert_fits_a_phone(page: Page, name: str) -> None:
    """Nothing wider than the phone: no sideways scrolling, every control on the screen."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name}: {width} px wide"
    controls = "button:visible, input:visible, select:visible, textarea:visible, summary:visible"
    for control in page.locator(controls).all():
        box = control.bounding_box()
        assert box is not None, name
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], name


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_every_view_fits_a_360_px_phone(
    site: Site, views: Views, open_context: OpenContext, console: BrowserLog, user: str
) -> None:
    console.allow(400)
    page = open_context(site, user, viewport=PHONE).new_page()
    seen = []
    for name in each_view(page, views):
        assert_fits_a_phone(page, name)
        seen.append(name)
    assert len(seen) == 8


def test_signing_in_fits_a_360_px_phone(
    site: Site, open_context: OpenContext, console: BrowserLog
) -> None:
    console.allow(401)
    page = open_context(site, viewport=PHONE).new_page()
    page.goto(site.url)
    expect(page.locator("main h1")).to_have_text("Sign in")
    assert_fits_a_phone(page, "sign in")
    page.get_by_label("API key").fill("trn_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".field-error")).to_be_visible()
    assert_fits_a_phone(page, "sign in with a wrong key")


@pytest.mark.parametrize(
    ("scheme", "background"), [("light", "rgb(244, 245, 247)"), ("dark", "rgb(15, 20, 26)")]
)
def test_it_follows_the_systems_light_or_dark_setting(
    site: Site, open_page: Callable[..., Page], scheme: str, background: str
) -> None:
    page = open_page(site, "bob", color_scheme=scheme)
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == background


def focused(locator: Locator) -> bool:
    return bool(locator.evaluate("element => element === document.activeElement"))


def tab_to(page: Page, target: Locator, *, limit: int = 40, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until `target` has the focus: it is reachable by keyboard."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if focused(target):
            return
    raise AssertionError(f"{target} cannot be reached with Tab")


def test_the_whole_flow_works_from_the_keyboard(
    site: Site, open_context: OpenContext, console: BrowserLog
) -> None:
    console.allow(401)
    tag = unique_tag()
    page = open_context(site).new_page()
    page.goto(site.url)
    # Sign in: the key field has the focus already.
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(site.keys["bob"])
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_have_text("Queue")
    # To the form through the main navigation, which is before the heading that has focus.
    main_navigation = page.get_by_role("navigation", name="Main")
    tab_to(page, main_navigation.get_by_role("link", name="New request"), backwards=True)
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # the focus is visible
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_have_text("New request")
    tab_to(page, page.get_by_label("Description"))
    page.keyboard.type("Rubber Soul, mono")
    page.keyboard.press("Tab")
    page.keyboard.type(f"music, {tag}")
    page.keyboard.press("Tab")
    page.keyboard.type("/media/music/beatles")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Priority")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_have_text("Rubber Soul, mono")
    # Cancel it with a reason.
    tab_to(page, page.get_by_label("Reason for cancelling (optional)"))
    page.keyboard.type("found the CD")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Cancel ticket")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("Ticket cancelled.")
    # Back to the queue, and filter it from the keyboard: Space ticks a state.
    tab_to(page, page.get_by_role("link", name="← Back to the queue"))
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_have_text("Queue")
    tab_to(page, page.get_by_role("textbox", name="Tags"))
    page.keyboard.type(tag)
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="No tickets")).to_be_visible()
    tab_to(page, page.get_by_label("Cancelled"), limit=60)
    page.keyboard.press("Space")
    expect(page.locator("[data-ticket-row]")).to_have_count(1)
    tab_to(page, page.locator("[data-ticket-row] a"))
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_have_text("Rubber Soul, mono")


def press_on(page: Page, target: Locator, key: str = "Enter", **tab: Any) -> None:
    """Tab to `target` (as `tab_to` does) and press `key` there."""
    tab_to(page, target, **tab)
    page.keyboard.press(key)


def test_an_admin_works_from_the_keyboard_alone(
    fresh_site: Site, open_context: OpenContext, console: BrowserLog
) -> None:
    """Sign in, the queue's next page, complete one ticket and fail another, filter the
    audit log and page through it, sign out: Tab, Shift+Tab, Enter, Space and typing."""
    console.allow(401)
    site = fresh_site
    key = site.add_key("alice", Role.ADMIN)
    for n in range(50):  # a full first page of the queue, ahead of the two below
        site.file("alice", priority=100 + n, query_context={"tags": [], "description": f"No {n}"})
    done = site.file("alice", priority=2, query_context={"tags": [], "description": "To complete"})
    failed = site.file("alice", priority=1, query_context={"tags": [], "description": "To fail"})
    page = open_context(site).new_page()
    page.goto(site.url)
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_have_text("Queue")
    # The queue's next page: focus goes to its first ticket, which Enter opens.
    press_on(page, page.get_by_role("button", name="Show more"), limit=130)
    expect(page.locator("[data-ticket-row]")).to_have_count(52)
    expect(page.get_by_role("link", name="To complete")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_have_text("To complete")
    press_on(page, page.get_by_role("button", name="Mark completed"))
    expect(page.get_by_role("alert")).to_have_text("Ticket completed.")
    # The audit log, through the main navigation: the filings only, page by page.
    main_navigation = page.get_by_role("navigation", name="Main")
    press_on(page, main_navigation.get_by_role("link", name="Audit log"), backwards=True)
    expect(page.locator("main h1")).to_have_text("Audit log")
    press_on(page, page.get_by_label("Ticket filed"), "Space")
    caption = page.get_by_role("status").filter(has_text="Events")
    expect(caption).to_have_text("Events 51\u201352 of 52, newest first.")
    press_on(page, page.get_by_role("button", name="Older"))
    expect(caption).to_have_text("Events 1\u201350 of 52, newest first.")
    expect(caption).to_be_focused()  # "Older" is off on the oldest page
    press_on(page, page.get_by_role("button", name="Newer"), limit=60)
    expect(caption).to_have_text("Events 51\u201352 of 52, newest first.")
    # The newest filing is the ticket to fail: its event links to it.
    press_on(page, page.get_by_role("link", name=f"Ticket {failed['id'][:8]}"))
    expect(page.locator("main h1")).to_have_text("To fail")
    tab_to(page, page.get_by_label("What went wrong"))
    page.keyboard.type("no seeders")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("Ticket failed.")
    expect(page.locator(".timeline li").nth(1)).to_contain_text('Failed by alice: "no seeders"')
    # Sign out, in the bar; Space presses a button as Enter does.
    press_on(page, page.get_by_role("button", name="Sign out"), "Space", backwards=True)
    expect(page.locator("main h1")).to_have_text("Sign in")
    expect(page.get_by_label("API key")).to_be_focused()
    page.reload()
    expect(page.locator("main h1")).to_have_text("Sign in")  # the key is forgotten
    assert "completed" in site.call("GET", f"tickets/{done['id']}", "alice")["state"]
    assert "failed" in site.call("GET", f"tickets/{failed['id']}", "alice")["state"]


def test_each_view_names_the_tab(
    views: Views, open_context: OpenContext, console: BrowserLog
) -> None:
    console.allow(400)  # the form with errors
    page = open_context(views.site, "bob").new_page()
    titles = [page.title() for name in each_view(page, views) if name != "new request with errors"]
    assert titles == [
        "Queue · torrentino",
        "New request · torrentino",
        "Abbey Road, remastered · torrentino",
        "Help! · torrentino",
        "Audit log · torrentino",
        "Backups · torrentino",
        "Page not found · torrentino",
    ]
