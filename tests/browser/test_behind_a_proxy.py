"""The page in Chromium through a real Caddy, configured as docs/security.md says, at the
root of a site and under `/torrentino/` (tests/caddy.py): it loads, lists, shows more
through the API's `next` link, files and cancels, in open mode as this machine's
anonymous admin, and every request it makes stays under the mount."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from playwright.sync_api import Request, expect

from tests.browser.conftest import OpenContext, Site
from tests.caddy import MOUNTS, behind_caddy
from tests.helpers import example_ticket


@pytest.mark.parametrize("mount", sorted(MOUNTS))
def test_the_page_works_through_the_proxy(
    mount: str, tmp_path: Path, open_context: OpenContext
) -> None:
    with behind_caddy(tmp_path, mount) as proxied:
        for n in range(52):  # more than a page of 50
            body = example_ticket(priority=n, query_context={"tags": ["x"], "description": f"#{n}"})
            created = requests.post(f"{proxied.url}/api/v1/tickets", json=body, timeout=30)
            assert created.status_code == 201
        page = open_context(Site(proxied.server)).new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.on("requestfailed", lambda request: requested.append(f"failed {request.url}"))
        page.goto(f"{proxied.url}/")
        expect(page.locator("main h1")).to_have_text("Queue")
        page.locator("#live").wait_for()
        rows = page.locator("[data-ticket-row]")
        expect(rows).to_have_count(50)
        with page.expect_request(lambda request: "after=" in request.url) as more:
            page.get_by_role("button", name="Show more").click()
        expect(rows).to_have_count(52)
        followed: Request = more.value
        assert followed.url.startswith(f"{proxied.url}/api/v1/tickets?")

        page.get_by_role("link", name="New request").first.click()
        page.get_by_label("Description").fill("Abbey Road by The Beatles")
        page.get_by_label("Tags").fill("music, flac")
        page.get_by_label("Destination").fill("/media/music/beatles")
        page.get_by_role("button", name="File request").click()
        expect(page.locator("main h1")).to_have_text("Abbey Road by The Beatles")
        page.get_by_role("button", name="Cancel ticket").click()
        expect(page.get_by_role("alert")).to_have_text("Ticket cancelled.")
        expect(page.locator("main h1 + .badge")).to_have_text("Cancelled")

        assert requested and all(url.startswith(f"{proxied.url}/") for url in requested), [
            url for url in requested if not url.startswith(f"{proxied.url}/")
        ]
        filed = requests.get(f"{proxied.url}/api/v1/tickets?tag=flac", timeout=30).json()
        assert [t["created_by"] for t in filed["tickets"]] == ["anonymous"]
        assert "cancelled" in filed["tickets"][0]["state"]
