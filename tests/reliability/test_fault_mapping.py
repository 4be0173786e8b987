"""Each storage fault, produced for real by SQLite, becomes the right domain error, in
every journal mode."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from chalicelib import settings
from chalicelib.audit.log import AuditFilter
from chalicelib.backups import check
from chalicelib.errors import StorageCorrupt, StorageUnavailable
from chalicelib.service import startup
from chalicelib.storage import db, migrations
from chalicelib.tickets.listing import TicketFilter
from chalicelib.tickets.model import CreateTicketRequest
from tests.helpers import example_ticket, row_counts, with_storage

REQUEST = CreateTicketRequest.model_validate(example_ticket())
pytestmark = pytest.mark.usefixtures("journal_mode")


def reads_while_locked(db_path: Path) -> None:
    """WAL readers do not wait for a writer's lock; under a rollback journal they do."""

    def page_total() -> int:
        return with_storage(db_path, lambda s: s.tickets.page(TicketFilter())).total

    if settings.is_rollback(settings.journal_mode()):
        with pytest.raises(StorageUnavailable):
            page_total()
    else:
        assert page_total() == 0


def start_while_locked(db_path: Path) -> None:
    """Start the service while another process holds the write lock: it cannot record
    `service_started`. With WAL it goes ahead for reads; under a rollback journal even
    reading the schema waits for the lock, so the start gives up as busy."""
    if settings.is_rollback(settings.journal_mode()):
        with pytest.raises(StorageUnavailable) as caught:
            startup.ensure_started(db_path)
        assert caught.value.retry_after == db.RETRY_AFTER_SECONDS
    else:
        startup.ensure_started(db_path)
    assert db_path not in startup._started


def test_disk_full_is_storage_unavailable(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # this connection's disk is now full
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full") as caught:
        conn.execute(
            "INSERT INTO audit_events (event_type, timestamp, actor, data)"
            " VALUES ('x', 't', 'a', zeroblob(100000))"
        )
    conn.close()
    translated = db.translate_error(caught.value)
    assert isinstance(translated, StorageUnavailable)
    assert translated.retry_after is None


def test_read_only_is_storage_unavailable(db_path: Path) -> None:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly") as caught:
        conn.execute("DELETE FROM tickets")
    conn.close()
    translated = db.translate_error(caught.value)
    assert isinstance(translated, StorageUnavailable)
    assert "read-only" in translated.message


def test_a_lock_held_past_the_busy_timeout_is_storage_unavailable_with_retry_after(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORRENTINO_BUSY_TIMEOUT_MS", "50")
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageUnavailable) as caught:
            with_storage(db_path, lambda s: s.tickets.create(REQUEST, created_by="a"))
        assert caught.value.retry_after == db.RETRY_AFTER_SECONDS
        reads_while_locked(db_path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (
        with_storage(db_path, lambda s: s.tickets.create(REQUEST, created_by="a")).priority == 100
    )


def test_a_missing_file_is_unavailable_and_never_recreated_by_a_request(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    with pytest.raises(StorageUnavailable, match="missing"):
        with_storage(path, lambda s: s.tickets.create(REQUEST, created_by="a"))
    with pytest.raises(StorageUnavailable, match="missing"):
        with_storage(path, lambda s: s.tickets.get("00000000-0000-4000-8000-000000000000"))
    assert not path.exists()
    migrations.migrate(path)  # what a restart does
    assert with_storage(path, lambda s: s.tickets.create(REQUEST, created_by="a")).priority == 100


@pytest.mark.parametrize(
    "content", [b"not a database " * 300, b"SQLite format 3\x00" + b"\x01" * 5000]
)
def test_a_file_that_is_not_a_database_is_storage_corrupt(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(content)
    with pytest.raises(StorageCorrupt):
        with_storage(path, lambda s: s.tickets.create(REQUEST, created_by="a"))
    with pytest.raises(StorageCorrupt):
        with_storage(path, lambda s: s.tickets.page(TicketFilter()))
    assert path.read_bytes() == content


def test_a_database_without_our_schema_is_storage_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.close()
    with pytest.raises(StorageCorrupt):
        with_storage(path, lambda s: s.tickets.create(REQUEST, created_by="a"))
    assert "tickets" not in {
        r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")
    }


def test_a_refused_write_leaves_nothing_behind(db_path: Path) -> None:
    before = row_counts(db_path)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("TORRENTINO_BUSY_TIMEOUT_MS", "10")
            with pytest.raises(StorageUnavailable):
                with_storage(db_path, lambda s: s.tickets.create(REQUEST, created_by="a"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert row_counts(db_path) == before


def test_a_service_starting_on_a_locked_database_still_serves_reads(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORRENTINO_BUSY_TIMEOUT_MS", "20")
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        start_while_locked(db_path)
        reads_while_locked(db_path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    startup.ensure_started(db_path)
    assert db_path in startup._started
    assert (
        with_storage(
            db_path, lambda s: s.audit_log.page(AuditFilter(event_type="service_started"))
        ).total
        == 1
    )
    startup.stop(db_path)
    assert db_path not in startup._started


def test_a_database_that_vanishes_before_the_start_succeeds_is_not_recreated(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORRENTINO_BUSY_TIMEOUT_MS", "20")
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        start_while_locked(db_path)  # the first attempt cannot write: reads at most
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    away = db_path.with_name("away.db")
    db_path.rename(away)
    try:
        with pytest.raises(StorageUnavailable, match="missing"):
            startup.ensure_started(db_path)
        assert not db_path.exists()
    finally:
        away.rename(db_path)
    startup.ensure_started(db_path)
    assert db_path in startup._started
    startup.stop(db_path)


def test_a_service_starting_on_a_database_without_our_schema_refuses(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"junk" * 1000)
    with pytest.raises(StorageCorrupt):
        startup.ensure_started(path)
    assert path not in startup._started


def test_a_started_service_keeps_the_wal_between_requests(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    startup.ensure_started(path)
    with_storage(path, lambda s: s.tickets.create(REQUEST, created_by="a"))
    wal_mode = not settings.is_rollback(settings.journal_mode())
    # The request's connection is closed, but SQLite's WAL index is still there; a
    # rollback journal has no WAL, and no connection is kept for it.
    assert path.with_name("t.db-shm").exists() is wal_mode
    assert path.with_name("t.db-wal").exists() is wal_mode
    assert (path in startup._held_open) is wal_mode
    startup.stop(path)  # the last connection: SQLite checkpoints and removes them
    assert not path.with_name("t.db-shm").exists()
    journal = path.with_name("t.db-journal")
    assert not journal.exists() or journal.stat().st_size == 0  # truncate keeps it, empty


@pytest.mark.parametrize("name", ["a b.db", "100%.db", "what?.db", "#1.db", "é ü.db"])
def test_odd_database_file_names_work(tmp_path: Path, name: str) -> None:
    path = tmp_path / "dir with space" / name
    startup.ensure_started(path)
    try:
        ticket = with_storage(path, lambda s: s.tickets.create(REQUEST, created_by="a"))
        assert with_storage(path, lambda s: s.tickets.get(ticket.id)) == ticket
        assert check.check_database(path).ok
        assert sorted(p.name for p in path.parent.iterdir())[0] == name
    finally:
        startup.stop(path)


def test_writers_in_one_process_queue_and_time_out_as_busy(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer waits for the one before it; past the busy timeout it gets a 503's error."""
    inside, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with db.connect(db_path) as conn, db.transaction(conn):
            inside.set()
            release.wait(timeout=30)

    first = threading.Thread(target=slow_writer)
    first.start()
    try:
        assert inside.wait(timeout=30)
        monkeypatch.setenv("TORRENTINO_BUSY_TIMEOUT_MS", "50")
        with pytest.raises(StorageUnavailable) as caught:
            with_storage(db_path, lambda s: s.tickets.create(REQUEST, created_by="a"))
        assert caught.value.retry_after == db.RETRY_AFTER_SECONDS
        monkeypatch.setenv("TORRENTINO_BUSY_TIMEOUT_MS", "30000")
        waiting = threading.Thread(
            target=lambda: with_storage(
                db_path, lambda s: s.tickets.create(REQUEST, created_by="b")
            )
        )
        waiting.start()
    finally:
        release.set()
        first.join(timeout=30)
    waiting.join(timeout=30)
    assert [
        t.created_by for t in with_storage(db_path, lambda s: s.tickets.list(TicketFilter()))
    ] == ["b"]
