"""HTTP fixtures: a real `chalice local` server with a temporary database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.server_process import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module; each test makes its own tickets."""
    running = Server(tmp_path_factory.mktemp("http") / "torrentino.db").start()
    yield running
    running.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """A server of this test's own, on an empty database."""
    running = Server(tmp_path / "torrentino.db").start()
    yield running
    running.stop()
