"""Connections and migrations."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from chalicelib import __version__, settings
from chalicelib.errors import StorageCorrupt
from chalicelib.service import startup
from chalicelib.storage import db, migrations


def table_names(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def test_migrate_creates_the_schema_and_counts_steps(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "t.db"
    assert migrations.migrate(path) == len(migrations.MIGRATIONS)
    assert {"tickets", "audit_events"} <= table_names(path)
    with db.connect(path) as conn:
        assert migrations.schema_version(conn) == len(migrations.MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == settings.busy_timeout_ms()
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"idx_tickets_creator_queue", "idx_tickets_queue", "idx_tickets_state_queue"} <= indexes
    # Migration 9 drops the seed's indexes that are prefixes of the queue indexes.
    assert not {"idx_tickets_state", "idx_tickets_priority", "idx_tickets_created_by"} & indexes


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    migrations.migrate(path)
    assert migrations.migrate(path) == len(migrations.MIGRATIONS)


def test_migrate_applies_only_the_missing_steps(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    conn = sqlite3.connect(path)
    migrations.MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    assert migrations.migrate(path) == len(migrations.MIGRATIONS)
    assert "audit_events" in table_names(path)


def test_a_database_from_a_newer_torrentino_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    migrations.migrate(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(migrations.MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StorageCorrupt):
        migrations.migrate(path)


def _migrate_in_child(path: str) -> int:
    return migrations.migrate(Path(path))


def test_two_processes_migrating_at_once_both_succeed(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        versions = pool.map(_migrate_in_child, [str(path)] * 4)
    assert versions == [len(migrations.MIGRATIONS)] * 4
    with db.connect(path) as conn:
        assert migrations.schema_version(conn) == len(migrations.MIGRATIONS)


def test_connect_always_closes(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    migrations.migrate(path)
    with db.connect(path) as conn:
        pass
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")
    with pytest.raises(RuntimeError), db.connect(path) as failing:
        raise RuntimeError("boom")
    with pytest.raises(sqlite3.ProgrammingError):
        failing.execute("SELECT 1")


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    migrations.migrate(path)
    with db.connect(path) as conn:
        with pytest.raises(RuntimeError), db.transaction(conn):
            conn.execute(
                "INSERT INTO audit_events (event_type, timestamp, actor, data)"
                " VALUES ('x', 't', 'a', '{}')"
            )
            raise RuntimeError("boom")
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 0


def test_service_start_records_service_started_each_time(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    startup.start(path)
    startup.start(path)
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT data FROM audit_events WHERE event_type = 'service_started'"
    ).fetchall()
    conn.close()
    assert len(rows) == 2
    assert json.loads(rows[0][0])["version"] == __version__


def test_ensure_started_runs_once_per_process_and_file(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    startup.ensure_started(path)
    startup.ensure_started(path)
    conn = sqlite3.connect(path)
    count = conn.execute(
        "SELECT count(*) FROM audit_events WHERE event_type = 'service_started'"
    ).fetchone()[0]
    conn.close()
    assert count == 1


def test_the_counts_migration_counts_the_tickets_already_there(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    conn = sqlite3.connect(path)
    migrations.MIGRATIONS[0](conn)
    migrations.MIGRATIONS[1](conn)
    for n, state in enumerate(["pending", "pending", "failed"]):
        conn.execute(
            "INSERT INTO tickets VALUES (?, 't', 'a', ?, 0, '{}', '/x', 't')",
            (f"id-{n}", json.dumps({"type": state})),
        )
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    migrations.migrate(path)
    with db.connect(path) as conn:
        counts = dict(conn.execute("SELECT state, tickets FROM ticket_counts").fetchall())
    assert counts == {"pending": 2, "failed": 1}


def test_the_idle_connection_keeps_the_wal_between_connections(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    startup.ensure_started(path)
    try:
        with db.connect(path) as conn, db.transaction(conn):
            conn.execute(
                "INSERT INTO audit_events (event_type, timestamp, actor, data)"
                " VALUES ('x', 't', 'a', '{}')"
            )
        # The request's connection was not the last one: no checkpoint, no WAL teardown.
        assert Path(f"{path}-wal").exists()
        assert Path(f"{path}-wal").stat().st_size > 0
    finally:
        startup.stop(path)
    # Without it, the last connection to close checkpoints and removes the WAL.
    with db.connect(path) as conn:
        conn.execute("SELECT 1").fetchone()
    assert not Path(f"{path}-wal").exists()


def test_writers_of_one_process_queue_and_always_release_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    migrations.migrate(path)

    def free_for_another_thread() -> bool:
        result: list[bool] = []

        def probe() -> None:
            acquired = db._writer.acquire(blocking=False)
            if acquired:
                db._writer.release()
            result.append(acquired)

        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
        return result[0]

    with db.connect(path) as conn:
        with pytest.raises(RuntimeError), db.transaction(conn):
            assert not free_for_another_thread()
            raise RuntimeError("boom")
        assert free_for_another_thread()
        with db.transaction(conn, write=False):
            assert free_for_another_thread()  # readers never queue


@pytest.mark.usefixtures("journal_mode")
@pytest.mark.parametrize("reading", [False, True])
def test_every_connection_commits_with_synchronous_full(tmp_path: Path, reading: bool) -> None:
    """Whether it sets it or this SQLite's build makes it the default (then a connection
    needs no statement for it), every connection a unit of work opens syncs each commit."""
    path = tmp_path / "t.db"
    migrations.migrate(path)
    with db.connect(path, reading=reading) as conn:
        conn.execute("SELECT count(*) FROM tickets").fetchone()  # the journal mode engaged
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == (0 if reading else 1)


def test_a_connection_opened_for_reading_refuses_to_write(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    migrations.migrate(path)
    with db.connect(path, reading=True) as conn:
        with db.transaction(conn, write=False):
            assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 0
        with pytest.raises(TypeError, match="opened for reading"), db.transaction(conn):
            conn.execute("DELETE FROM tickets")
