"""Journal modes: WAL on one machine's disk, a rollback journal (`delete`, `truncate`) on a
network filesystem. The setting, switching a database with data between them (both
ways), a crashed writer's hot journal, and many processes starting on one new file."""

from __future__ import annotations

import functools
import multiprocessing
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chalicelib import settings
from chalicelib.backups import check
from chalicelib.errors import StorageUnavailable
from chalicelib.service import startup
from chalicelib.service.unit_of_work import Storage
from chalicelib.storage import db, migrations
from chalicelib.tickets.listing import TicketFilter
from chalicelib.tickets.model import CreateTicketRequest, Ticket
from tests.helpers import example_ticket, row_counts, with_storage

PROJECT_DIR = Path(__file__).resolve().parents[2]
REQUEST = CreateTicketRequest.model_validate(example_ticket())


def file_mode(path: Path) -> str:
    """What the file itself says: WAL (header bytes 18-19 are 2) or a rollback journal."""
    header = path.read_bytes()[:20]
    return "wal" if header[18:20] == b"\x02\x02" else "rollback"


def use_mode(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv(settings.JOURNAL_MODE_VARIABLE, mode)


def cancel(storage: Storage, ticket_id: str) -> Ticket:
    return storage.tickets.cancel(ticket_id, cancelled_by="a", reason=None)


def get(storage: Storage, ticket_id: str) -> Ticket:
    return storage.tickets.get(ticket_id)


def add_tickets(path: Path, count: int) -> list[str]:
    """Create `count` tickets and cancel every other one; their ids."""
    ids = []
    for n in range(count):
        ticket = with_storage(path, lambda s: s.tickets.create(REQUEST, created_by="a"))
        if n % 2:
            with_storage(path, functools.partial(cancel, ticket_id=ticket.id))
        ids.append(ticket.id)
    return ids


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "wal"), ("", "wal"), ("wal", "wal"), ("DELETE", "delete"), (" truncate ", "truncate")],
)
def test_the_journal_mode_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: str
) -> None:
    if value is None:
        monkeypatch.delenv(settings.JOURNAL_MODE_VARIABLE, raising=False)
    else:
        use_mode(monkeypatch, value)
    assert settings.journal_mode() == expected


@pytest.mark.parametrize("value", ["wall", "memory", "off", "persist", "wal;"])
def test_an_unknown_or_unsafe_journal_mode_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    use_mode(monkeypatch, value)
    with pytest.raises(StorageUnavailable, match="TORRENTINO_JOURNAL_MODE"):
        migrations.migrate(tmp_path / "t.db")
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize("mode", ["delete", "truncate"])
def test_a_rollback_mode_leaves_no_wal_and_keeps_no_connection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str
) -> None:
    use_mode(monkeypatch, mode)
    path = tmp_path / "t.db"
    startup.ensure_started(path)
    try:
        add_tickets(path, 3)
        assert file_mode(path) == "rollback"
        assert not Path(f"{path}-wal").exists()
        assert not Path(f"{path}-shm").exists()
        assert path not in startup._held_open
        with db.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == mode
    finally:
        startup.stop(path)


def file_kind(mode: str) -> str:
    """What `file_mode` finds on a file used in journal `mode`."""
    return "wal" if mode == "wal" else "rollback"


@pytest.mark.parametrize(
    ("first", "second"), [("wal", "delete"), ("wal", "truncate"), ("delete", "truncate")]
)
def test_switching_a_database_with_data_both_ways_keeps_everything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, first: str, second: str
) -> None:
    path = tmp_path / "t.db"
    use_mode(monkeypatch, first)
    migrations.migrate(path)
    ids = add_tickets(path, 6)
    assert file_mode(path) == file_kind(first)
    before = row_counts(path)

    use_mode(monkeypatch, second)
    migrations.migrate(path)  # what the next start does
    assert file_mode(path) == file_kind(second)
    assert not Path(f"{path}-wal").exists()
    assert row_counts(path) == before
    assert check.check_database(path).ok
    ids += add_tickets(path, 4)

    use_mode(monkeypatch, first)
    migrations.migrate(path)
    assert file_mode(path) == file_kind(first)
    ids += add_tickets(path, 2)
    listed = with_storage(path, lambda s: s.tickets.list(TicketFilter(limit=1000)))
    assert sorted(t.id for t in listed) == sorted(ids)
    report = check.check_database(path)
    assert report.ok, report.problems
    assert report.tickets == 12


WAL_WRITER = """
import os, sqlite3, sys
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from chalicelib.service.unit_of_work import open_storage
from chalicelib.service.unit_of_work import Storage
from chalicelib.tickets.model import CreateTicketRequest, Ticket
from tests.helpers import example_ticket
request = CreateTicketRequest.model_validate(example_ticket())
keep = sqlite3.connect(sys.argv[1])  # stays open: no connection is ever the last one
keep.execute("SELECT count(*) FROM sqlite_master").fetchone()
with open_storage(Path(sys.argv[1])) as storage:
    storage.connection.execute("PRAGMA wal_autocheckpoint = 0")
    for _ in range(20):
        storage.tickets.create(request, created_by="a")
os._exit(0)  # killed, in effect: the WAL keeps committed writes not yet in the file
"""


def test_switching_to_a_rollback_journal_keeps_writes_only_in_a_crashed_wal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "t.db"
    migrations.migrate(path)
    subprocess.run([sys.executable, "-c", WAL_WRITER, str(path), str(PROJECT_DIR)], check=True)
    assert Path(f"{path}-wal").stat().st_size > 0  # the 20 tickets are in the WAL only
    use_mode(monkeypatch, "delete")
    migrations.migrate(path)
    assert file_mode(path) == "rollback"
    assert not Path(f"{path}-wal").exists()
    assert row_counts(path)[0] == 20
    assert check.check_database(path).ok


def test_leaving_wal_waits_for_other_connections_and_then_refuses_without_loss(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "t.db"
    migrations.migrate(path)
    add_tickets(path, 2)
    other = sqlite3.connect(path)  # another process would hold this: say, a WAL server
    other.execute("SELECT count(*) FROM tickets").fetchone()
    monkeypatch.setenv("TORRENTINO_BUSY_TIMEOUT_MS", "100")
    use_mode(monkeypatch, "delete")
    try:
        with pytest.raises(StorageUnavailable, match="another process has it open"):
            migrations.migrate(path)
        # A request configured for a rollback journal does not run in WAL mode either.
        with pytest.raises(StorageUnavailable, match="'delete' journal mode"):
            with_storage(path, lambda s: s.tickets.create(REQUEST, created_by="a"))
        assert file_mode(path) == "wal"
    finally:
        other.close()
    migrations.migrate(path)
    assert file_mode(path) == "rollback"
    assert row_counts(path)[0] == 2


HALF_WRITTEN = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode = " + sys.argv[2])
conn.execute("PRAGMA cache_size = 1")  # spill changed pages into the file before commit
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE tickets SET dest_path = hex(randomblob(3000))")
os._exit(0)  # dies mid-transaction: the file is half-written, the journal is hot
"""


@pytest.mark.parametrize("mode", ["delete", "truncate"])
def test_the_check_rolls_back_a_crashed_writers_hot_journal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str
) -> None:
    use_mode(monkeypatch, mode)
    path = tmp_path / "t.db"
    migrations.migrate(path)
    ids = add_tickets(path, 30)
    expected = [with_storage(path, functools.partial(get, ticket_id=i)) for i in ids]
    subprocess.run([sys.executable, "-c", HALF_WRITTEN, str(path), mode], check=True)
    assert Path(f"{path}-journal").stat().st_size > 0
    read_only = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError):  # read-only cannot read it as it is
        read_only.execute("SELECT * FROM tickets")
    read_only.close()
    report = check.check_database(path)
    assert report.ok, report.problems
    assert report.tickets == 30
    assert [with_storage(path, functools.partial(get, ticket_id=i)) for i in ids] == expected


def _start_in_rounds(args: tuple[list[str], Any]) -> list[str]:
    """Start the service on each new file at the same moment as the other processes."""
    paths, barrier = args
    outcomes = []
    for path in paths:
        barrier.wait(timeout=60)
        try:
            startup.ensure_started(Path(path))
            outcomes.append("ok")
        except Exception as error:  # reported, not raised: the test shows every outcome
            outcomes.append(f"{type(error).__name__}: {error}")
    return outcomes


PROCESSES = 6
ROUNDS = 25


@pytest.mark.parametrize("mode", settings.JOURNAL_MODES)
def test_many_processes_starting_on_one_new_file_all_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str
) -> None:
    """Cold Lambda containers on a fresh EFS volume: each creates, migrates and starts.

    SQLite switches the journal mode without its busy handler, so without a retry one
    process in a few rounds gets "database is locked" here.
    """
    use_mode(monkeypatch, mode)
    paths = [str(tmp_path / f"round{n}.db") for n in range(ROUNDS)]
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    try:
        barrier = manager.Barrier(PROCESSES)
        with context.Pool(PROCESSES) as pool:
            outcomes = pool.map(_start_in_rounds, [(paths, barrier)] * PROCESSES)
    finally:
        manager.shutdown()
    assert all(o == "ok" for per_process in outcomes for o in per_process), outcomes
    for path in map(Path, paths):
        with db.connect(path) as conn:
            assert migrations.schema_version(conn) == len(migrations.MIGRATIONS)
            starts = conn.execute(
                "SELECT count(*) FROM audit_events WHERE event_type = 'service_started'"
            ).fetchone()[0]
        assert starts == PROCESSES
        assert file_mode(path) == ("wal" if mode == "wal" else "rollback")
        assert check.check_database(path).ok
