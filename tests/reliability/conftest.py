"""Reliability fixtures: a real server of this module's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.server_process import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server per test module; each test makes its own tickets."""
    running = Server(tmp_path_factory.mktemp("reliability") / "torrentino.db").start()
    yield running
    running.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the load test's throughput and latency figures, when it ran."""
    from tests.reliability.test_load import FIGURES  # noqa: PLC0415

    if FIGURES:
        terminalreporter.section("reliability: load test figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
