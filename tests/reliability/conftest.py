"""Reliability fixtures: a real server of this module's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.http.server import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server per test module; each test makes its own tickets."""
    running = Server(tmp_path_factory.mktemp("reliability") / "torrentino.db").start()
    yield running
    running.stop()
