"""Debian's Chromium driven by Playwright: for the browser tests and the page benchmark.

Playwright's own browser download cannot work here, so it drives the `chromium` package
that `make test` and `make bench` install with apt-get.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Playwright

CHROMIUM = Path("/usr/bin/chromium")
# Root needs --no-sandbox. The rest keep Chromium from calling Google's services, which
# this machine's closed network refuses, noisily, at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright: Playwright) -> Browser:
    """Start headless Chromium; raises `FileNotFoundError` if the package is missing."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(
            f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
