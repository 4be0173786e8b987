"""The README's screenshots: the queue, and the form showing a field error.

They go to a temporary directory, or to TORRENTINO_SCREENSHOT_DIR when it is set
(`make screenshots` sets it to docs/screenshots), so `make test` leaves the work tree clean.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from chalicelib.keys.identity import Role
from harness.server_process import PROJECT_DIR
from tests.browser.conftest import BrowserLog, Site

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TICKETS = [
    ("alice", 100, ["music", "flac", "album"], "Abbey Road by The Beatles, 2019 remaster",
     "/media/music/beatles/abbey-road"),
    ("bob", 200, ["movie", "2160p", "hdr"], "Dune: Part Two (2024)", "/media/movies/dune-part-two"),
    ("carol", 100, ["series", "1080p"], "The Expanse, seasons 1 to 6", "/media/tv/the-expanse"),
    ("bob", 50, ["audiobook"], "Project Hail Mary, read by Ray Porter", "/media/audiobooks"),
    ("carol", 100, ["music", "jazz", "flac"], "Kind of Blue, Miles Davis", "/media/music/jazz"),
    ("alice", 100, ["movie", "1080p"], "Blade Runner 2049", "/media/movies/blade-runner-2049"),
]  # fmt: skip


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    configured = os.environ.get("TORRENTINO_SCREENSHOT_DIR")
    folder = PROJECT_DIR / configured if configured else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def household(fresh_site: Site) -> Site:
    """A household's queue: a few tickets from three people, in every state."""
    site = fresh_site
    site.add_key("alice", Role.ADMIN)
    site.add_key("bob", Role.USER)
    site.add_key("carol", Role.USER)
    ids = []
    for user, priority, tags, description, dest in TICKETS:
        body = {"tags": tags, "description": description}
        ids.append(site.file(user, priority=priority, query_context=body, dest_path=dest)["id"])
    site.call("POST", f"tickets/{ids[2]}/complete", "alice")
    site.call("POST", f"tickets/{ids[4]}/fail", "alice", json={"error": "no seeders for 3 days"})
    site.call("DELETE", f"tickets/{ids[5]}", "alice", json={"reason": "already on the shelf"})
    return site


def saved(path: Path) -> Path:
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    return path


def test_screenshots_of_the_queue_and_of_a_field_error(
    household: Site, open_page: Callable[..., Page], shots: Path, console: BrowserLog
) -> None:
    console.allow(400)
    size = {"width": 1100, "height": 760}
    page = open_page(household, "alice", "#/?state=", viewport=size)
    expect(page.locator("[data-ticket-row]")).to_have_count(6)
    expect(page.locator(".chip .count").first).to_have_text("3")
    page.screenshot(path=shots / "queue.png")
    saved(shots / "queue.png")

    form = open_page(household, "bob", "#/new", viewport=size)
    form.get_by_label("Description").fill("Revolver by The Beatles, the 2022 mix")
    form.get_by_label("Tags").fill("music, flac")
    form.get_by_label("Destination").fill("media/music/beatles")
    form.get_by_role("button", name="File request").click()
    expect(form.locator(".field-error")).to_contain_text("must be an absolute path")
    form.evaluate("() => window.scrollTo(0, 0)")  # the sticky bar at the top of the picture
    form.screenshot(path=shots / "new-request-error.png", full_page=True)
    saved(shots / "new-request-error.png")

    phone = open_page(
        household, "bob", "#/", viewport={"width": 360, "height": 740}, color_scheme="dark"
    )
    expect(phone.locator("[data-ticket-row]")).to_have_count(3)
    phone.screenshot(path=shots / "queue-phone-dark.png")
    saved(shots / "queue-phone-dark.png")
