"""Fixtures: a fresh SQLite file per test, the storage a request would open on it, each
journal mode to run a test in, and another machine to send requests from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib import settings
from chalicelib.audit.log import SqliteAuditLog
from chalicelib.service.unit_of_work import Storage, open_storage
from chalicelib.storage import migrations
from chalicelib.tickets.store import SqliteTicketStore
from tests.other_machine import OtherMachine
from tests.other_machine import other_machine as made_other_machine


@pytest.fixture(params=settings.JOURNAL_MODES)
def journal_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once in each journal mode (`TORRENTINO_JOURNAL_MODE`), servers included.

    Request it before `db_path` (or with `pytest.mark.usefixtures`), so the file is
    created in that mode.
    """
    mode: str = request.param
    monkeypatch.setenv(settings.JOURNAL_MODE_VARIABLE, mode)
    return mode


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A migrated, empty database file of this test's own."""
    path = tmp_path / "torrentino.db"
    migrations.migrate(path)
    return path


@pytest.fixture
def storage(db_path: Path) -> Iterator[Storage]:
    """The storage a request opens (`open_storage`), open for the whole test."""
    with open_storage(db_path) as opened:
        yield opened


@pytest.fixture
def store(storage: Storage) -> SqliteTicketStore:
    return storage.tickets


@pytest.fixture
def audit_log(storage: Storage) -> SqliteAuditLog:
    return storage.audit_log


@pytest.fixture(scope="module")
def other_machine() -> Iterator[OtherMachine]:
    """Another machine (`tests/other_machine.py`): a network namespace, for this module."""
    with made_other_machine() as made:
        yield made
