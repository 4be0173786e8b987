"""Fixtures: a fresh SQLite file per test, and the stores over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib import db
from chalicelib.store import SqliteAuditLog, SqliteTicketStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A migrated, empty database file of this test's own."""
    path = tmp_path / "torrentino.db"
    db.migrate(path)
    return path


@pytest.fixture
def store(db_path: Path) -> SqliteTicketStore:
    return SqliteTicketStore(db_path)


@pytest.fixture
def audit_log(db_path: Path) -> SqliteAuditLog:
    return SqliteAuditLog(db_path)
