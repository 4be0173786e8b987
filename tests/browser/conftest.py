"""Browser fixtures: Debian's Chromium (through Playwright) against the real server.

Every browser context a test opens is watched: a console error or warning, or an
uncaught exception in the page, fails the test, except "Failed to load resource" for
the HTTP statuses the test says it provokes (Chromium reports every 4xx answer to
`fetch` that way, e.g. the 401 that makes the page ask for a key).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from harness.browser import launch
from harness.server_process import Server
from tests.helpers import example_ticket

KEY_ITEM = "torrentino.apiKey"
EXPECT_MS = 10_000  # how long to wait for the page to show something (not a timing check)
expect.set_options(timeout=EXPECT_MS)


# Package scope: Playwright's sync API runs an event loop while it is open, and no other
# sync Playwright (the page benchmark's smoke run) can start in this thread until it stops.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@dataclass
class Site:
    """A running server and the API keys of its people."""

    server: Server
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.server.url}/"

    def add_key(self, user: str, role: Role) -> str:
        self.keys[user] = create_key(self.server.db_path, user, role)[1]
        return self.keys[user]

    def headers(self, user: str | None) -> dict[str, str]:
        return {"X-Api-Key": self.keys[user]} if user else {}

    def call(self, method: str, path: str, user: str | None = None, **kw: Any) -> Any:
        """A request as `curl` would make it; returns the parsed JSON body."""
        response = requests.request(
            method, f"{self.server.url}/api/v1/{path}", headers=self.headers(user), timeout=10, **kw
        )
        assert response.status_code < 300, response.text
        return response.json()

    def file(self, user: str | None = None, **overrides: Any) -> dict[str, Any]:
        """File a ticket through the API."""
        result: dict[str, Any] = self.call(
            "POST", "tickets", user, json=example_ticket(**overrides)
        )
        return result


def start_site(db_path: Path, *, people: bool) -> Site:
    site = Site(Server(db_path).start())
    if people:
        site.add_key("alice", Role.ADMIN)
        site.add_key("bob", Role.USER)
        site.add_key("carol", Role.USER)
    return site


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One server for the browser tests, with keys: alice (admin), bob and carol (users).

    Tests share it, so each makes its own tickets and looks them up by a unique tag.
    """
    running = start_site(tmp_path_factory.mktemp("browser") / "torrentino.db", people=True)
    yield running
    running.server.stop()


@pytest.fixture
def fresh_site(tmp_path: Path) -> Iterator[Site]:
    """A server of this test's own, on an empty database in open mode (no key yet)."""
    running = start_site(tmp_path / "torrentino.db", people=False)
    yield running
    running.server.stop()


def unique_tag() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


class BrowserLog:
    """What the page said on the console, and what it was allowed to say."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.allowed: set[str] = set()

    def watch(self, context: BrowserContext) -> None:
        context.on("console", self._console)
        context.on("weberror", lambda error: self.messages.append(f"uncaught: {error.error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.messages.append(message.text)

    def allow(self, *statuses: int) -> None:
        """Let Chromium report these HTTP statuses, which the test provokes on purpose."""
        for status in statuses:
            self.allow_failure(f"the server responded with a status of {status} ")

    def allow_failure(self, reason: str) -> None:
        """Let Chromium report a resource that failed for this reason (e.g. net::ERR_...)."""
        self.allow_message(f"Failed to load resource: {reason}")

    def allow_message(self, start: str) -> None:
        """Let the console say something starting with `start`, which the test provokes."""
        self.allowed.add(start)

    def unexpected(self) -> list[str]:
        return [
            text
            for text in self.messages
            if not any(text.startswith(allowed) for allowed in self.allowed)
        ]


@pytest.fixture
def console() -> BrowserLog:
    return BrowserLog()


OpenContext = Callable[..., BrowserContext]


@pytest.fixture
def open_context(browser: Browser, console: BrowserLog) -> Iterator[OpenContext]:
    """Open a browser context, as `user` (their key remembered on this device) or nobody."""
    opened: list[BrowserContext] = []

    def open_one(site: Site, user: str | None = None, **options: Any) -> BrowserContext:
        if user is not None:
            options["storage_state"] = {
                "cookies": [],
                "origins": [
                    {
                        "origin": site.server.url,
                        "localStorage": [{"name": KEY_ITEM, "value": site.keys[user]}],
                    }
                ],
            }
        context = browser.new_context(**options)
        context.set_default_timeout(EXPECT_MS)
        console.watch(context)
        opened.append(context)
        return context

    yield open_one
    for context in opened:
        context.close()
    assert console.unexpected() == []


@pytest.fixture
def open_page(open_context: OpenContext) -> Callable[..., Page]:
    """A page at the site's root (or `path`), as `user`, once its first view is shown and
    it follows changes made elsewhere. With `clock`, its timers run on a stopped clock."""

    def open_one(
        site: Site, user: str | None = None, path: str = "", *, clock: bool = False, **options: Any
    ) -> Page:
        page = open_context(site, user, **options).new_page()
        if clock:
            # A stopped clock: no timer of the page fires until the test lets time pass.
            now = datetime.now(UTC)
            page.clock.install(time=now)
            page.clock.pause_at(now + timedelta(seconds=1))
        page.goto(site.url + path)
        page.locator("main h1").wait_for()
        page.locator("#live").wait_for()  # following changes from here on
        return page

    return open_one
