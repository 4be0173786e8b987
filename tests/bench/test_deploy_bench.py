"""How the deploy benchmark counts the pages a write puts on disk, checked on a write whose
pages are known: a one-row update changes the one page holding the row (and, under a
rollback journal, page 1, whose change counter every commit bumps)."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path

import pytest

from bench import deploy_bench
from chalicelib import settings
from chalicelib.storage import db


def update_one_row(path: Path, ticket_id: str, value: str) -> None:
    with db.connect(path) as conn, db.transaction(conn):
        conn.execute("UPDATE tickets SET dest_path = ? WHERE id = ?", (value, ticket_id))


@pytest.mark.parametrize("mode", deploy_bench.MODES)
def test_a_one_row_update_counts_the_pages_it_changes(
    tmp_path: Path, mode: settings.JournalMode
) -> None:
    path = tmp_path / f"{mode}.db"
    deploy_bench._build(path, 300, seed_indexes=False, mode=mode)
    conn = sqlite3.connect(path)
    ticket_id = conn.execute("SELECT id FROM tickets LIMIT 1 OFFSET 100").fetchone()[0]
    conn.close()
    with deploy_bench.journal_mode(mode):
        held = db.hold_open(path) if mode == "wal" else None
        measure = deploy_bench._wal_frames if mode == "wal" else deploy_bench._changed_pages
        try:
            first = measure(path, functools.partial(update_one_row, path, ticket_id, "/a"))
            same = measure(path, functools.partial(update_one_row, path, ticket_id, "/a"))
        finally:
            if held is not None:
                held.close()
    assert first == ((1, 0) if mode == "wal" else (2, 2))
    assert same == (0, 0)  # nothing changed: nothing written


def test_the_seed_indexes_are_back_in_the_before_database(tmp_path: Path) -> None:
    path = tmp_path / "seed.db"
    deploy_bench._build(path, 10, seed_indexes=True, mode="wal")
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert {"idx_tickets_state", "idx_tickets_created_by", "idx_tickets_priority"} <= names
