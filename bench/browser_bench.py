"""Browser: from navigation to the first 50 tickets shown on the web page, in Debian's
Chromium driven by Playwright, against the real server on a database of N tickets.

The page marks the moment it has put the first page of tickets on screen
(`performance.mark('torrentino:first-tickets-shown')`); the mark's time is counted from
the navigation's start, in the browser itself, so Playwright's own overhead is not in it.
Each round is a new browser context (nothing cached), then a reload of the same page
(its files revalidated: 304s).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from bench import loader
from bench.common import Table
from harness.browser import launch
from harness.server_process import Server

MARK = "torrentino:first-tickets-shown"
WANTED_ROWS = 50


def _shown(page: Page) -> tuple[float, int]:
    """Wait for the page's mark; return its time (ms from navigation start) and the rows."""
    page.wait_for_function(
        f"() => performance.getEntriesByName('{MARK}').length > 0", timeout=60_000
    )
    at: float = page.evaluate(f"performance.getEntriesByName('{MARK}')[0].startTime")
    rows: int = page.locator("[data-ticket-row]").count()
    return at, rows


def run(workdir: Path, *, tickets: int, rounds: int) -> Table:
    """Measure `rounds` first visits and reloads of the queue with `tickets` in the database."""
    path = workdir / "browser.db"
    loader.build(path, tickets)
    first: list[float] = []
    again: list[float] = []
    outside: list[float] = []
    rows_shown: set[int] = set()
    with (
        Server(path, log_path=workdir / "browser-server.log") as server,
        sync_playwright() as playwright,
    ):
        browser = launch(playwright)
        version = browser.version
        try:
            for _ in range(rounds):
                context = browser.new_context(viewport={"width": 1100, "height": 800})
                page = context.new_page()
                started = time.perf_counter()
                page.goto(f"{server.url}/", wait_until="commit")
                at, rows = _shown(page)
                outside.append((time.perf_counter() - started) * 1000)
                first.append(at)
                rows_shown.add(rows)
                page.reload(wait_until="commit")
                at, rows = _shown(page)
                again.append(at)
                rows_shown.add(rows)
                context.close()
        finally:
            browser.close()
    table = Table(
        f"Browser: navigation to the first {WANTED_ROWS} tickets shown "
        f"({tickets:,} tickets, Chromium {version})",
        ["load", "median ms", "min ms", "max ms", "rounds"],
    )
    for name, samples in (
        ("first visit (new context, nothing cached), in the page", first),
        ("reload (files revalidated), in the page", again),
        ("first visit, seen from Playwright", outside),
    ):
        table.add(name, statistics.median(samples), min(samples), max(samples), len(samples))
    table.notes.append(
        f"Rows on screen at the mark: {', '.join(str(n) for n in sorted(rows_shown))} "
        "(the default view: the pending tickets, in queue order). Before the mark the page "
        "fetches its files (the HTML, then the stylesheet and its script modules, all "
        "preloaded), then the caller's identity and the first page of tickets side by side "
        "(and starts the live-update cursor once the identity is in); the counts per state "
        "follow the tickets."
    )
    return table
