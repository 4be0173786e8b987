"""Destinations in a real browser: an admin defines them on the page, a user files into
one (a subfolder from the description, the full path shown before filing, the default
tags added), and a path outside is refused with the destinations named, next to the field.
With none defined, the form is the plain path field it always was."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import BrowserLog, Site, start_site, unique_tag


@pytest.fixture
def household(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server of its own (destinations bind every request on it): alice (admin), bob."""
    running = start_site(tmp_path_factory.mktemp("dest") / "torrentino.db", people=True)
    yield running
    running.server.stop()


def destinations(site: Site) -> list[dict[str, object]]:
    found: list[dict[str, object]] = site.call("GET", "destinations", "bob")["destinations"]
    return found


def tickets_tagged(site: Site, tag: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = site.call("GET", f"tickets?tag={tag}", "alice")["tickets"]
    return found


def add_on_the_page(page: Page, name: str, root: str, tags: str = "") -> None:
    page.get_by_label("Name").fill(name)
    page.get_by_label("Root folder").fill(root)
    page.get_by_label("Default tags (optional)").fill(tags)
    page.get_by_role("button", name="Add destination").click()


def test_an_admin_defines_a_destination_and_a_user_files_into_it(
    household: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(400)  # the root that is not absolute
    site = household
    admin = open_page(site, "alice")
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Destinations").click()
    expect(admin.locator("main h1")).to_have_text("Destinations")
    expect(admin.get_by_role("status").filter(has_text="None yet")).to_be_visible()
    # The API's error, in the form's words, next to the field.
    add_on_the_page(admin, "Movies", "media/movies")
    root = admin.locator(".field", has=admin.get_by_label("Root folder"))
    expect(root.locator(".field-error")).to_contain_text("Root folder must be an absolute path")
    expect(admin.get_by_role("alert").filter(has_text="There is a problem")).to_contain_text(
        "Root folder: must be an absolute path"
    )
    assert destinations(site) == []
    add_on_the_page(admin, "Movies", "/media/movies", "movie, video")
    row = admin.locator('[data-destination="Movies"]')
    expect(row).to_contain_text("/media/movies")
    expect(row.locator(".tag")).to_have_text(["movie", "video"])
    expect(root.locator(".field-error")).to_have_count(0)
    add_on_the_page(admin, "Music", "/media/music")
    expect(admin.get_by_role("status").filter(has_text="2 destinations")).to_be_visible()
    assert [d["root"] for d in destinations(site)] == ["/media/movies", "/media/music"]

    # A user files into it: the subfolder follows the description, the path is shown.
    tag = unique_tag()
    page = open_page(site, "bob", "#/new")
    expect(page.get_by_label("Destination")).to_have_value("")  # a choice to make
    page.get_by_label("Description").fill("Moana 2 (2024), Disney")
    page.get_by_label("Tags").fill(tag)
    page.get_by_label("Destination").select_option(label="Movies (/media/movies)")
    expect(page.get_by_label("Subfolder")).to_have_value("moana-2-2024-disney")
    expect(page.get_by_label("Full path")).to_have_value("/media/movies/moana-2-2024-disney")
    expect(page.get_by_label("Tags")).to_have_value(f"{tag}, movie, video")
    page.get_by_label("Subfolder").fill("kids/moana-2")
    expect(page.get_by_label("Full path")).to_have_value("/media/movies/kids/moana-2")
    # Another destination: its tags replace the first one's, the user's own stay.
    page.get_by_label("Destination").select_option(label="Music (/media/music)")
    expect(page.get_by_label("Full path")).to_have_value("/media/music/kids/moana-2")
    expect(page.get_by_label("Tags")).to_have_value(tag)
    page.get_by_label("Destination").select_option(label="Movies (/media/movies)")
    page.get_by_role("button", name="File request").click()
    expect(page.locator("main h1")).to_have_text("Moana 2 (2024), Disney")
    (ticket,) = tickets_tagged(site, tag)
    assert ticket["dest_path"] == "/media/movies/kids/moana-2"
    assert ticket["query_context"] == {
        "tags": [tag, "movie", "video"],
        "description": "Moana 2 (2024), Disney",
    }
    # The admin sees it in the audit log, in words.
    admin.goto(f"{site.url}#/audit")
    admin.get_by_label("Destination added").check()
    expect(admin.locator(".event").first).to_contain_text("Music: /media/music")


def test_a_path_outside_is_refused_with_the_destinations_named(
    household: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(400)
    site = household
    site.call("POST", "destinations", "alice", json={"name": "Movies", "root": "/media/movies"})
    site.call("POST", "destinations", "alice", json={"name": "Music", "root": "/media/music"})
    tag = unique_tag()
    page = open_page(site, "bob", "#/new")
    page.get_by_label("Description").fill("Moana 2")
    page.get_by_label("Tags").fill(tag)
    # Nothing chosen: said at once, nothing sent.
    page.get_by_role("button", name="File request").click()
    choice = page.locator(".field", has=page.get_by_label("Destination"))
    expect(choice.locator(".field-error")).to_have_text("Error: Choose where it should go.")
    expect(page.get_by_label("Destination")).to_be_focused()
    # A path typed in full shows as the destination and subfolder it is in...
    page.get_by_label("Full path").fill("/media/music/soundtracks/moana-2")
    expect(page.get_by_label("Destination")).to_have_value("1")
    expect(page.get_by_label("Subfolder")).to_have_value("soundtracks/moana-2")
    # ...and one outside every destination (a prefix is not inside) is refused by the API,
    # which names the destinations, next to the field, in the form's words.
    for outside in ("/media/movies-old/moana-2", "/media/movies/../../etc", "/etc"):
        page.get_by_label("Full path").fill(outside)
        expect(page.get_by_label("Destination")).to_have_value("")
        page.get_by_role("button", name="File request").click()
        path = page.locator(".field", has=page.get_by_label("Full path"))
        error = path.locator(".field-error")
        expect(error).to_contain_text("Full path must ")
        expect(page.get_by_label("Full path")).to_have_attribute("aria-invalid", "true")
        if ".." in outside:  # this answer's own words, not the last one's still shown
            expect(error).to_contain_text("must not contain a '..' segment")
        else:
            expect(error).to_have_text(
                "Error: Full path must be inside one of the destinations: "
                "Movies (/media/movies), Music (/media/music)"
            )
        message = (error.text_content() or "").removeprefix("Error: Full path ")
        summary = page.get_by_role("alert").filter(has_text="There is a problem")
        expect(summary.get_by_role("link")).to_have_text(f"Full path: {message}")
        expect(page.locator("main")).not_to_contain_text("dest_path")
    assert tickets_tagged(site, tag) == []
    # Back inside, with the subfolder the path outside left alone: filed.
    expect(page.get_by_label("Subfolder")).to_have_value("soundtracks/moana-2")
    page.get_by_label("Destination").select_option(label="Movies (/media/movies)")
    expect(page.get_by_label("Full path")).to_have_value("/media/movies/soundtracks/moana-2")
    page.get_by_role("button", name="File request").click()
    expect(page.locator("main h1")).to_have_text("Moana 2")
    filed = [t["dest_path"] for t in tickets_tagged(site, tag)]
    assert filed == ["/media/movies/soundtracks/moana-2"]


def test_a_destination_removed_on_the_page_frees_the_form(
    household: Site, open_page: Callable[..., Page]
) -> None:
    site = household
    site.call("POST", "destinations", "alice", json={"name": "Movies", "root": "/media/movies"})
    admin = open_page(site, "alice", "#/destinations")
    row = admin.locator('[data-destination="Movies"]')
    row.get_by_role("button", name="Remove Movies").click()
    row.get_by_role("button", name="Keep it").click()
    expect(row.get_by_role("button", name="Remove Movies")).to_be_focused()
    row.get_by_role("button", name="Remove Movies").click()
    row.get_by_role("button", name="Yes, remove it").click()
    expect(admin.locator("#toast")).to_have_text("Destination Movies removed.")
    expect(admin.locator("[data-destination]")).to_have_count(0)
    assert destinations(site) == []
    # With none, the form is the plain path it always was.
    tag = unique_tag()
    page = open_page(site, "bob", "#/new")
    page.get_by_label("Description").fill("Anywhere")
    page.get_by_label("Tags").fill(tag)
    expect(page.get_by_label("Subfolder")).to_have_count(0)
    expect(page.get_by_label("Full path")).to_have_count(0)
    page.get_by_label("Destination").fill("/srv/anything")
    page.get_by_role("button", name="File request").click()
    expect(page.locator("main h1")).to_have_text("Anywhere")
    assert [t["dest_path"] for t in tickets_tagged(site, tag)] == ["/srv/anything"]


def test_a_user_sees_the_destinations_but_cannot_change_them(
    household: Site, open_page: Callable[..., Page]
) -> None:
    site = household
    site.call("POST", "destinations", "alice", json={"name": "Books", "root": "/media/books"})
    page = open_page(site, "bob")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Audit log")).to_be_visible()
    expect(nav.get_by_role("link", name="Destinations")).to_have_count(0)  # hidden: no link
    page.goto(f"{site.url}#/destinations")
    expect(page.locator("main h1")).to_have_text("Destinations")
    expect(page.locator('[data-destination="Books"]')).to_contain_text("/media/books")
    expect(page.locator("main")).to_contain_text("Only an admin adds or removes destinations.")
    expect(page.get_by_role("button", name="Add destination")).to_have_count(0)
    expect(page.get_by_role("button", name="Remove Books")).to_have_count(0)


def test_editing_shows_the_tickets_destination_and_refuses_a_path_outside(
    household: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(400)
    site = household
    site.call("POST", "destinations", "alice", json={"name": "Movies", "root": "/media/movies"})
    tag = unique_tag()
    ticket = site.file(
        "bob",
        priority=1000,
        query_context={"tags": [tag], "description": "Moana"},
        dest_path="/media/movies/kids/moana",
    )
    page = open_page(site, "bob", f"#/tickets/{ticket['id']}/edit")
    expect(page.locator("main h1")).to_have_text("Edit request")
    # The form shows the ticket as the destination, the subfolder and the level it is in.
    expect(page.get_by_label("Destination")).to_have_value("0")
    expect(page.get_by_label("Subfolder")).to_have_value("kids/moana")
    expect(page.get_by_label("Full path")).to_have_value("/media/movies/kids/moana")
    levels = page.get_by_role("group", name="Levels")
    expect(levels.locator('[aria-pressed="true"]')).to_have_text("High")
    expect(page.get_by_label("Tags")).to_have_value(tag)  # no default tag added by an edit
    # An edit is held to the destinations as a filing is.
    page.get_by_label("Full path").fill("/media/movies-old/moana")
    page.get_by_role("button", name="Save changes").click()
    path = page.locator(".field", has=page.get_by_label("Full path"))
    expect(path.locator(".field-error")).to_have_text(
        "Error: Full path must be inside one of the destinations: Movies (/media/movies)"
    )
    assert site.call("GET", f"tickets/{ticket['id']}", "bob")["dest_path"] == ticket["dest_path"]
    page.get_by_label("Destination").select_option(label="Movies (/media/movies)")
    page.get_by_label("Subfolder").fill("kids/moana-1")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("main h1")).to_have_text("Moana")
    now = site.call("GET", f"tickets/{ticket['id']}", "bob")
    assert (now["dest_path"], now["priority"]) == ("/media/movies/kids/moana-1", 1000)
