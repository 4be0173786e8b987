"""API keys and roles in a real browser: asking for a key, wrong and revoked keys, where
the key is kept, who you are, and that the key never reaches a URL or a log."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, Request, expect

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key, revoke_key
from tests.browser.conftest import KEY_ITEM, BrowserLog, OpenContext, Site, unique_tag


def sign_in(page: Page, key: str, *, remember: bool = False) -> None:
    expect(page.locator("main h1")).to_have_text("Sign in")
    page.get_by_label("API key").fill(key)
    if remember:
        page.get_by_label("Remember on this device").check()
    page.get_by_role("button", name="Sign in").click()


def account(page: Page) -> str:
    return page.locator("#account").inner_text()


def stored(context: BrowserContext, page: Page) -> tuple[str | None, str | None]:
    session, local = page.evaluate(
        f"[sessionStorage.getItem('{KEY_ITEM}'), localStorage.getItem('{KEY_ITEM}')]"
    )
    return session, local


def test_the_page_asks_for_a_key_and_says_when_it_is_wrong(
    site: Site, open_context: OpenContext, console: BrowserLog
) -> None:
    console.allow(401)
    context = open_context(site)
    page = context.new_page()
    page.goto(site.url)
    expect(page.locator("main h1")).to_have_text("Sign in")
    expect(page.get_by_text("This torrentino asks for an API key.")).to_be_visible()
    expect(page.get_by_label("API key")).to_be_focused()
    expect(page.get_by_label("API key")).to_have_attribute("type", "password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".field-error")).to_have_text("Error: Enter your API key.")
    sign_in(page, site.keys["bob"] + "x")
    expect(page.locator(".field-error")).to_have_text(
        "Error: That key is wrong or has been revoked."
    )
    expect(page.get_by_label("API key")).to_have_attribute("aria-invalid", "true")
    assert stored(context, page) == (None, None)
    page.get_by_label("API key").fill(site.keys["bob"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("main h1")).to_have_text("Queue")
    expect(page.locator("#account")).to_contain_text("bob")
    expect(page.locator("#account .role")).to_have_text("user")
    assert "open mode" not in account(page)


def test_the_key_is_kept_for_the_tab_unless_remembered_on_this_device(
    site: Site, open_context: OpenContext, console: BrowserLog
) -> None:
    console.allow(401)
    context = open_context(site)
    page = context.new_page()
    page.goto(site.url)
    sign_in(page, site.keys["carol"])
    expect(page.locator("main h1")).to_have_text("Queue")
    assert stored(context, page) == (site.keys["carol"], None)
    page.reload()
    expect(page.locator("main h1")).to_have_text("Queue")  # the same tab keeps it
    other_tab = context.new_page()
    other_tab.goto(site.url)
    sign_in(other_tab, site.keys["carol"], remember=True)
    expect(other_tab.locator("main h1")).to_have_text("Queue")
    assert stored(context, other_tab) == (site.keys["carol"], site.keys["carol"])
    third_tab = context.new_page()
    third_tab.goto(site.url)
    expect(third_tab.locator("main h1")).to_have_text("Queue")  # remembered on this device
    expect(third_tab.locator("#account")).to_contain_text("carol")
    third_tab.get_by_role("button", name="Sign out").click()
    expect(third_tab.locator("main h1")).to_have_text("Sign in")
    expect(third_tab.get_by_text("This torrentino asks for an API key.")).to_be_visible()
    assert stored(context, third_tab) == (None, None)
    expect(third_tab.locator("#account")).to_have_text("")


def test_a_revoked_key_is_refused_with_a_clear_message(
    site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(401)
    info, key = create_key(site.server.db_path, "dave", Role.USER)
    site.keys["dave"] = key
    page = open_page(site, "dave")
    expect(page.locator("#account")).to_contain_text("dave")
    revoke_key(site.server.db_path, info.id)
    # The next poll (every two seconds) meets the 401.
    expect(page.locator("main h1")).to_have_text("Sign in")
    expect(page.get_by_role("alert")).to_have_text(
        "Your API key was refused: it is wrong or has been revoked. Enter a valid key."
    )
    expect(page.locator("#account")).to_have_text("")
    assert page.evaluate(f"localStorage.getItem('{KEY_ITEM}')") is None


def test_the_key_never_goes_into_a_url_or_a_log(
    site: Site, open_context: OpenContext, console: BrowserLog
) -> None:
    console.allow(401)
    key = site.keys["bob"]
    context = open_context(site)
    sent: list[Request] = []
    # A lambda, not sent.append: Playwright tags the handler with an attribute.
    context.on("request", lambda request: sent.append(request))  # noqa: PLW0108
    page = context.new_page()
    page.goto(site.url)
    sign_in(page, key)
    expect(page.locator("main h1")).to_have_text("Queue")
    tag = unique_tag()
    page.get_by_role("link", name="New request", exact=True).first.click()
    page.get_by_label("Description").fill("Key check")
    page.get_by_label("Tags").fill(tag)
    page.get_by_label("Destination").fill("/media/key")
    page.get_by_role("button", name="File request").click()
    expect(page.locator("main h1")).to_have_text("Key check")
    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("main h1")).to_have_text("Audit log")
    api_calls = [r for r in sent if "/api/v1/" in r.url]
    assert api_calls
    for request in sent:
        assert key not in request.url
        assert key[4:16] not in request.url  # not even the key's id
        assert request.headers.get("authorization") is None
    # Before signing in no key is sent; from then on it goes in X-Api-Key, every time.
    presented = [r.headers.get("x-api-key") for r in api_calls]
    first = presented.index(key)
    assert set(presented[:first]) == {None}
    assert set(presented[first:]) == {key}
    assert key not in page.url
    assert all(key not in message for message in console.messages)
    assert key not in site.server.log()


def test_open_mode_shows_the_anonymous_admin_until_a_key_exists(
    fresh_site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(401)
    page = open_page(fresh_site)
    expect(page.locator("#account")).to_contain_text("anonymous")
    expect(page.locator("#account")).to_contain_text("admin")
    expect(page.locator("#account")).to_contain_text("open mode")
    # Open mode serves this machine only (docs/security.md#open-mode), not everyone.
    title = page.locator("#account .role", has_text="open mode").get_attribute("title") or ""
    assert "this machine" in title and "everyone" not in title, title
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    key = fresh_site.add_key("erin", Role.ADMIN)
    # The next poll finds the service closed and asks for a key: no reload needed.
    expect(page.locator("main h1")).to_have_text("Sign in")
    expect(page.get_by_text("This torrentino asks for an API key.")).to_be_visible()
    sign_in(page, key)
    expect(page.locator("#account")).to_contain_text("erin")
    expect(page.locator("#account .role")).to_have_text("admin")
