"""The page's weight as Chromium loads it: every file of the first view (the queue, for an
admin and for a user) counted from the responses the browser received, within the same
60,000 bytes as tests/http/test_webpage.py counts from the HTML's references, and equal to
that count; the modules loaded on demand arrive only when their view is opened."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Response, expect

from chalicelib.api import webpage
from tests.browser.conftest import OpenContext, Site
from tests.http.test_webpage import MAX_PAGE_BYTES, page_files


class Loaded:
    """The page's own files (not the API's answers) a browser page received, by path."""

    def __init__(self, page: Page) -> None:
        self.files: dict[str, int] = {}
        self.statuses: dict[str, int] = {}
        page.on("response", self._received)

    def _received(self, response: Response) -> None:
        path = urlsplit(response.url).path
        if not path.startswith("/api/"):
            self.statuses[path] = response.status
            self.files[path] = len(response.body())


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_the_first_view_weighs_what_the_weight_test_counts(
    site: Site, open_context: OpenContext, user: str
) -> None:
    page = open_context(site, user).new_page()
    loaded = Loaded(page)
    page.goto(site.url)
    expect(page.locator("main h1")).to_have_text("Queue")
    page.locator("#live").wait_for()
    page.wait_for_load_state("networkidle")
    assert set(loaded.statuses.values()) == {200}  # a new context: nothing cached, no 304
    total = sum(loaded.files.values())
    print(f"\n{user}'s first view: {total:,} bytes in {len(loaded.files)} files")
    assert total <= MAX_PAGE_BYTES
    counted = page_files(site.server.url)
    assert set(loaded.files) == {"/" if url == "/" else f"/{url}" for url in counted}
    assert total == sum(len(response.content) for response in counted.values())


def page_files_loaded(page: Page) -> set[str]:
    """The paths of the page's own files the browser has loaded, as it reports them."""
    urls = page.evaluate("performance.getEntriesByType('resource').map((entry) => entry.name)")
    return {urlsplit(url).path for url in urls if urlsplit(url).path.startswith("/ui/")}


def test_modules_on_demand_arrive_with_their_view(site: Site, open_context: OpenContext) -> None:
    page = open_context(site, "alice").new_page()
    page.goto(site.url)
    page.locator("#live").wait_for()
    page.wait_for_load_state("networkidle")
    first = page_files_loaded(page)
    assert "/ui/app.js" in first
    assert not {f"/ui/{name}" for name in webpage.ON_DEMAND} & first
    for path, heading, arrived in (
        ("#/new", "New request", {"request.js", "forms.js", "priority.js", "destinations.js"}),
        ("#/keys", "Keys", {"keys.js"}),
        ("#/backups", "Backups", {"backups.js"}),
        ("#/notifications", "Notifications", {"notifications.js"}),
    ):
        before = page_files_loaded(page)
        page.goto(f"{site.url}{path}")
        expect(page.locator("main h1")).to_have_text(heading)
        assert page_files_loaded(page) - before == {f"/ui/{name}" for name in arrived}, path
