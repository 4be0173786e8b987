"""The views of issue 23 held to test_usable.py's bar: no serious or critical axe-core
problem in light and dark, and nothing wider than a 360 px phone, for an admin and a user
(the Destinations and Keys views, the form offering destinations with an error shown, a
key just made, the queue's cancel confirmation with its reason), and in open mode."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import BrowserLog, OpenContext, Site, start_site, unique_tag
from tests.browser.test_usable import PHONE, assert_fits_a_phone, serious_violations


@pytest.fixture(scope="module")
def household(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server with destinations (they bind every request on it), and a ticket of bob's."""
    site = start_site(tmp_path_factory.mktemp("views") / "torrentino.db", people=True)
    for name, root, tags in (("Movies", "/media/movies", ["movie"]), ("Music", "/media/music", [])):
        site.call("POST", "destinations", "alice", json={"name": name, "root": root, "tags": tags})
    site.file("bob", dest_path="/media/music/beatles")
    yield site
    site.server.stop()


def each_new_view(page: Page, site: Site, user: str) -> Iterator[str]:
    """Go to each new view (and state of one) as `user`, yielding its name."""
    for name, path, heading, ready in (
        ("destinations", "#/destinations", "Destinations", "[data-destination]"),
        ("keys", "#/keys", "Keys", "main p"),
        ("form with destinations", "#/new", "New request", "#new-dest-choice"),
    ):
        page.goto(f"{site.url}{path}")
        expect(page.locator("main h1")).to_have_text(heading)
        page.locator(ready).first.wait_for()
        yield name
    page.get_by_label("Description").fill("Moana 2")
    page.get_by_label("Destination").select_option(label="Movies (/media/movies)")
    page.get_by_label("Full path").fill("/srv/elsewhere")
    page.get_by_role("button", name="File request").click()
    page.locator(".error-summary").wait_for()
    yield "form with a path outside"
    page.goto(f"{site.url}#/?state=")
    page.get_by_role("button", name="Cancel: Abbey Road by The Beatles").first.click()
    expect(page.get_by_label("Reason for cancelling (optional)")).to_be_focused()
    yield "queue asking to cancel"
    if user == "alice":
        page.goto(f"{site.url}#/keys")
        page.get_by_label("Name").fill(f"k{unique_tag()}")
        page.get_by_role("button", name="Make key").click()
        page.locator("#new-key").wait_for()
        yield "keys with a key just made"
        page.goto(f"{site.url}#/destinations")
        page.get_by_role("button", name="Add destination").click()
        page.locator(".error-summary").wait_for()
        yield "destinations with errors"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("user", ["alice", "bob"])
def test_axe_finds_no_serious_problem_on_the_new_views(
    household: Site, open_context: OpenContext, console: BrowserLog, scheme: str, user: str
) -> None:
    console.allow(400)  # the forms with errors
    page = open_context(household, user, color_scheme=scheme).new_page()
    problems = {name: serious_violations(page) for name in each_new_view(page, household, user)}
    assert len(problems) == (7 if user == "alice" else 5)
    assert {name: found for name, found in problems.items() if found} == {}


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_the_new_views_fit_a_360_px_phone(
    household: Site, open_context: OpenContext, console: BrowserLog, user: str
) -> None:
    console.allow(400)
    page = open_context(household, user, viewport=PHONE).new_page()
    seen = []
    for name in each_new_view(page, household, user):
        assert_fits_a_phone(page, name)
        seen.append(name)
    assert len(seen) == (7 if user == "alice" else 5)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_open_mode_offering_the_first_key_is_usable(
    fresh_site: Site, open_context: OpenContext, scheme: str
) -> None:
    page = open_context(fresh_site, color_scheme=scheme, viewport=PHONE).new_page()
    page.goto(fresh_site.url)
    expect(page.locator("#account")).to_contain_text("open mode")
    assert_fits_a_phone(page, "queue in open mode")
    assert serious_violations(page) == []
    page.get_by_role("link", name="Make the first key").click()
    expect(page.get_by_role("button", name="Make the first admin key")).to_be_visible()
    assert_fits_a_phone(page, "keys in open mode")
    assert serious_violations(page) == []
