"""Network tests: the launcher's connection limits and open mode, over real sockets."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

FIGURES: list[str] = []  # latencies the tests measured, printed at the end of the run
PATIENCE = 30.0  # seconds: the most a test waits for something that must happen


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; fail after `PATIENCE` seconds."""
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {PATIENCE:g} s: {what}")
        time.sleep(0.02)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the connection tests measured (nothing asserts on time)."""
    if FIGURES:
        terminalreporter.section("network: latency of ordinary requests under slow clients")
        for line in FIGURES:
            terminalreporter.write_line(line)
