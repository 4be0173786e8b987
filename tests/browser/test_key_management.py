"""Keys on the page, in a real browser: an admin makes one (shown once, with a copy button),
a second browser signs in with it and is refused once the admin revokes it; a user sees
only its own key's name and role; in open mode the page makes the first admin key, which
ends open mode, and signs in with it."""

from __future__ import annotations

from collections.abc import Callable

import requests
from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import KEY_ITEM, BrowserLog, OpenContext, Site, unique_tag


def keys_listed(site: Site) -> dict[str, dict[str, object]]:
    return {key["user"]: key for key in site.call("GET", "keys", "alice")["keys"]}


def test_an_admin_makes_a_key_another_browser_uses_it_until_it_is_revoked(
    site: Site, open_context: OpenContext, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(401)  # the second browser before signing in, and once revoked
    name = f"u{unique_tag()}"
    admin = open_page(site, "alice", permissions=["clipboard-read", "clipboard-write"])
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Keys").click()
    expect(admin.locator("main h1")).to_have_text("Keys")
    expect(admin.get_by_label("Remember on this device")).to_be_hidden()  # open mode's only
    admin.get_by_label("Name").fill(name)
    admin.get_by_label("Role").select_option("user")
    admin.get_by_role("button", name="Make key").click()
    secret = admin.get_by_label(f"The key for {name} (user)")
    expect(secret).to_be_focused()
    key = secret.input_value()
    assert key.startswith("trn_")
    expect(admin.get_by_text("it is not shown again")).to_be_visible()
    admin.get_by_role("button", name="Copy").click()
    expect(admin.locator("#toast")).to_have_text("Key copied.")
    assert admin.evaluate("navigator.clipboard.readText()") == key
    row = admin.locator(f'[data-key-id="{keys_listed(site)[name]["id"]}"]')
    expect(row).to_contain_text(name)
    expect(row.locator(".role")).to_have_text("user")
    expect(row).to_contain_text("made just now")
    expect(row).to_contain_text("in use")
    assert keys_listed(site)[name]["revoked_at"] is None
    # The key is in the page's answer once: the list never carries it.
    assert key not in admin.locator("main ol").inner_text()

    # A second browser signs in with it.
    other = open_context(site).new_page()
    other.goto(site.url)
    expect(other.locator("main h1")).to_have_text("Sign in")
    other.get_by_label("API key").fill(key)
    other.get_by_role("button", name="Sign in").click()
    expect(other.locator("main h1")).to_have_text("Queue")
    expect(other.locator("#account")).to_contain_text(name)
    expect(other.locator("#account .role")).to_have_text("user")

    # The admin revokes it on the page: the second browser's next request is refused.
    row.get_by_role("button", name=f"Revoke {name}'s key").click()
    row.get_by_role("button", name="Yes, revoke it").click()
    expect(admin.locator("#toast")).to_have_text(f"The key of {name} is revoked.")
    expect(row).to_contain_text("revoked just now")
    expect(row.get_by_role("button")).to_have_count(0)
    assert keys_listed(site)[name]["revoked_at"] is not None
    expect(other.locator("main h1")).to_have_text("Sign in")
    expect(other.get_by_role("alert")).to_have_text(
        "Your API key was refused: it is wrong or has been revoked. Enter a valid key."
    )
    other.get_by_label("API key").fill(key)
    other.get_by_role("button", name="Sign in").click()
    expect(other.locator(".field-error")).to_have_text(
        "Error: That key is wrong or has been revoked."
    )


def test_a_name_the_api_refuses_is_shown_by_the_field(
    site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(400)
    before = keys_listed(site)
    page = open_page(site, "alice", "#/keys")
    page.get_by_label("Name").fill("two words")
    page.get_by_role("button", name="Make key").click()
    name = page.locator(".field", has=page.get_by_label("Name"))
    expect(name.locator(".field-error")).to_contain_text("a user name is 1-64 letters")
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary.get_by_role("link")).to_contain_text("Name: a user name is")
    expect(page.locator("#new-key")).to_have_count(0)
    assert keys_listed(site) == before


def test_a_user_sees_only_its_own_keys_name_and_role(
    site: Site, open_page: Callable[..., Page]
) -> None:
    page = open_page(site, "bob")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Audit log")).to_be_visible()
    expect(nav.get_by_role("link", name="Keys")).to_have_count(0)  # hidden: no link
    page.goto(f"{site.url}#/keys")
    expect(page.locator("main h1")).to_have_text("Keys")
    expect(page.locator("main")).to_contain_text(
        "You are signed in as bob, with a key of role user."
    )
    expect(page.locator("main")).not_to_contain_text("alice")
    expect(page.get_by_role("button", name="Make key")).to_have_count(0)
    expect(page.get_by_label("Name")).to_have_count(0)
    assert not [url for url in asked if "/api/v1/keys" in url]


def test_open_mode_makes_the_first_admin_key_and_signs_in_with_it(
    fresh_site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    site = fresh_site
    page = open_page(site)  # this machine, no key yet: the anonymous admin
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))  # noqa: PLW0108
    expect(page.locator("#account")).to_contain_text("open mode")
    page.locator("#account").get_by_role("link", name="Make the first key").click()
    expect(page.locator("main h1")).to_have_text("Keys")
    expect(page.locator("main .notice")).to_contain_text("it ends open mode")
    expect(page.get_by_label("Role")).to_be_hidden()  # the first key is an admin's
    page.get_by_label("Name").fill("erin")
    page.get_by_label("Remember on this device").check()
    page.get_by_role("button", name="Make the first admin key").click()
    secret = page.get_by_label("The key for erin (admin)")
    key = secret.input_value()
    assert key.startswith("trn_")
    # Open mode is over, and the page is signed in with the new key.
    expect(page.locator("#account")).to_contain_text("erin")
    expect(page.locator("#account")).not_to_contain_text("open mode")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert requests.get(f"{site.server.url}/api/v1/me", timeout=10).status_code == 401
    me = requests.get(f"{site.server.url}/api/v1/me", headers={"X-Api-Key": key}, timeout=10)
    assert me.json() == {"name": "erin", "role": "admin", "open_mode": False}
    assert page.evaluate(f"localStorage.getItem('{KEY_ITEM}')") == key
    expect(page.locator("[data-key-id]")).to_have_count(1)
    expect(page.locator("[data-key-id] .role")).to_have_text("admin")
    expect(page.get_by_role("button", name="Make key")).to_be_visible()  # now as any admin
    expect(page.get_by_label("Role")).to_be_visible()
    expect(page.get_by_label("Remember on this device")).to_be_hidden()
    # Remembered on this device: a reload stays signed in.
    page.reload()
    expect(page.locator("main h1")).to_have_text("Keys")
    expect(page.locator("#account")).to_contain_text("erin")
    expect(page.locator("[data-key-id]")).to_have_count(1)
    # Every request after the key was made carries it; none was refused.
    api_calls = [r for r in sent if "/api/v1/" in r.url]
    made = next(at for at, r in enumerate(api_calls) if r.method == "POST" and "/keys" in r.url)
    assert api_calls[made].headers.get("x-api-key") is None
    assert len(api_calls) > made + 2
    assert {r.headers.get("x-api-key") for r in api_calls[made + 1 :]} == {key}
    assert console.messages == []  # not even a 401
    site.keys["erin"] = key
    audit = site.call("GET", "audit?event_type=api_key_created", "erin")
    assert [(e["data"]["user"], e["data"]["role"]) for e in audit["events"]] == [("erin", "admin")]
