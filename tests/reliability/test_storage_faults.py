"""Storage faults under the real server: a clear JSON 503 or 500, never a hang, a traceback
or a partial write; reads go on where they can, and the service recovers without a restart.
Every test runs in each journal mode (the `journal_mode` fixture).

How each fault is made, for real:

* read-only: the file is `chmod 0444` and the server cannot override permissions (as root
  it runs without CAP_DAC_OVERRIDE, see `harness/no_dac_override.py`) when it starts;
* disk full: the server's RLIMIT_FSIZE is set to 0 from outside (`prlimit`), so every write
  to a file fails with EFBIG, as on a full disk; raised back to unlimited to end the fault;
* locked: another process holds `BEGIN EXCLUSIVE` past the busy timeout (300 ms here);
* missing: the file and its WAL (or journal) are moved away and later moved back;
* not a database: the file is replaced by junk and later restored.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib import settings
from chalicelib.backups.check import check_database
from harness.server_process import LAUNCHER, PROJECT_DIR, Server
from tests.helpers import example_ticket

TIMEOUT = 30  # seconds; a request that takes longer counts as a hang
pytestmark = pytest.mark.usefixtures("journal_mode")


def files_of(db: Path) -> list[Path]:
    return [db.with_name(db.name + suffix) for suffix in ("", "-wal", "-shm", "-journal")]


def snapshot(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every ticket row and every audit event, read straight from the file."""
    conn = sqlite3.connect(db)
    try:
        tickets = conn.execute("SELECT * FROM tickets ORDER BY id").fetchall()
        events = conn.execute("SELECT * FROM audit_events ORDER BY id").fetchall()
    finally:
        conn.close()
    return tickets, events


class Seeded:
    """A server with a pending and a cancelled ticket, and what it answered for them."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.session = requests.Session()
        self.pending = self.post(example_ticket(priority=1)).json()
        cancelled = self.post(example_ticket(priority=2)).json()
        self.cancelled = self.session.delete(self.ticket_url(cancelled["id"]), timeout=TIMEOUT)
        self.cancelled.raise_for_status()
        self.page = self.session.get(f"{server.url}/api/v1/tickets", timeout=TIMEOUT).json()

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.server.url}/api/v1/tickets/{ticket_id}"

    def post(self, body: dict[str, Any]) -> requests.Response:
        return self.session.post(f"{self.server.url}/api/v1/tickets", json=body, timeout=TIMEOUT)

    def writes(self) -> list[requests.Response]:
        """A create and a cancel, which the fault should refuse."""
        return [
            self.post(example_ticket(priority=3)),
            self.session.delete(self.ticket_url(self.pending["id"]), timeout=TIMEOUT),
        ]

    def reads(self) -> list[requests.Response]:
        """A get, a list and an audit page."""
        return [
            self.session.get(self.ticket_url(self.pending["id"]), timeout=TIMEOUT),
            self.session.get(f"{self.server.url}/api/v1/tickets", timeout=TIMEOUT),
            self.session.get(f"{self.server.url}/api/v1/audit?limit=1", timeout=TIMEOUT),
        ]

    def assert_reads_work(self) -> None:
        got, listed, audit = self.reads()
        assert got.status_code == 200, got.text
        assert got.json() == self.pending
        assert listed.json() == self.page
        assert audit.status_code == 200

    def assert_recovered(self) -> None:
        """Writes and reads work again, in the same server process."""
        created = self.post(example_ticket(priority=4))
        assert created.status_code == 201, created.text
        cancel = self.session.delete(self.ticket_url(self.pending["id"]), timeout=TIMEOUT)
        assert cancel.status_code == 200, cancel.text
        assert self.session.get(self.ticket_url(created.json()["id"]), timeout=TIMEOUT).ok


def assert_refused(response: requests.Response, status: int, code: str, *, retry: bool) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert "Traceback" not in response.text
    assert ("Retry-After" in response.headers) is retry, response.headers


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[Seeded]:
    server = Server(tmp_path / "torrentino.db").start()
    try:
        yield Seeded(server)
    finally:
        server.stop()
    report = check_database(tmp_path / "torrentino.db")
    assert report.ok, report.problems


def service_starts(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        query = "SELECT count(*) FROM audit_events WHERE event_type = 'service_started'"
        count: int = conn.execute(query).fetchone()[0]
    finally:
        conn.close()
    return count


def test_read_only_database(tmp_path: Path) -> None:
    """The server (re)starts on a read-only file: it reads, refuses writes, then recovers.

    A running server is started here on a file already read-only (say, restored with
    the wrong owner): SQLite keeps and reuses its open read-write descriptors while any
    connection is open, so a `chmod` under a running server does not stop its writes.
    """
    db = tmp_path / "torrentino.db"
    server = Server(
        db, command=[sys.executable, str(PROJECT_DIR / "harness" / "no_dac_override.py"), *LAUNCHER]
    )
    seeded = Seeded(server.start())
    server.stop()
    before = snapshot(db)
    db.chmod(0o444)
    try:
        server.start()
        seeded.assert_reads_work()
        for response in seeded.writes():
            assert_refused(response, 503, "storage_unavailable", retry=False)
            assert "read-only" in response.json()["error"]["message"]
        seeded.assert_reads_work()
        assert snapshot(db) == before
        assert service_starts(db) == 1  # this start could not be recorded yet
        db.chmod(0o644)
        seeded.assert_recovered()
        assert service_starts(db) == 2  # recorded by the first request after the fault
    finally:
        db.chmod(0o644)
        server.stop()
    assert check_database(db).ok


def test_disk_full(tmp_path: Path) -> None:
    db = tmp_path / "torrentino.db"
    # The server's output goes to /dev/null: the file size limit would refuse its log too.
    server = Server(db, log_path=Path(os.devnull)).start()
    assert server.process is not None
    pid = server.process.pid
    try:
        seeded = Seeded(server)
        before = snapshot(db)
        _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, hard))
        try:
            for response in seeded.writes():
                assert_refused(response, 503, "storage_unavailable", retry=False)
                assert "cannot be written" in response.json()["error"]["message"]
            seeded.assert_reads_work()
        finally:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))
        assert snapshot(db) == before
        seeded.assert_recovered()
    finally:
        server.stop()
    assert check_database(db).ok


LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
conn.close()
"""


def test_database_locked_by_another_process(tmp_path: Path) -> None:
    db = tmp_path / "torrentino.db"
    server = Server(db, env={"TORRENTINO_BUSY_TIMEOUT_MS": "300"}).start()
    try:
        seeded = Seeded(server)
        before = snapshot(db)
        holder = subprocess.Popen(
            [sys.executable, "-c", LOCK_HOLDER, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
            for response in seeded.writes():
                assert_refused(response, 503, "storage_unavailable", retry=True)
                assert response.headers["Retry-After"] == "1"
            if settings.is_rollback(settings.journal_mode()):
                # A rollback journal: readers wait for the lock too, and give up alike.
                for response in seeded.reads():
                    assert_refused(response, 503, "storage_unavailable", retry=True)
            else:
                seeded.assert_reads_work()  # WAL: readers do not wait for the writer
        finally:
            holder.communicate("release\n", timeout=TIMEOUT)
        assert holder.returncode == 0
        assert snapshot(db) == before
        seeded.assert_recovered()
    finally:
        server.stop()
    assert check_database(db).ok


def move_away(db: Path) -> list[tuple[Path, Path]]:
    moved = [(f, f.with_name(f.name + ".away")) for f in files_of(db) if f.exists()]
    for original, away in moved:
        original.rename(away)
    return moved


def move_back(moved: list[tuple[Path, Path]]) -> None:
    for original, away in moved:
        original.unlink(missing_ok=True)
        away.rename(original)


def test_database_file_missing(seeded: Seeded) -> None:
    db = seeded.server.db_path
    before = snapshot(db)
    moved = move_away(db)
    try:
        for response in [*seeded.writes(), *seeded.reads()]:
            assert_refused(response, 503, "storage_unavailable", retry=False)
            assert "missing" in response.json()["error"]["message"]
        assert not db.exists(), "a request must not create an empty database in its place"
    finally:
        move_back(moved)
    assert snapshot(db) == before
    seeded.assert_reads_work()
    seeded.assert_recovered()


@pytest.mark.parametrize(
    "junk",
    [b"", b"this is not a database\n" * 500, b"SQLite format 3\x00" + bytes(range(256)) * 40],
    ids=["empty", "text", "damaged-header"],
)
def test_database_file_is_not_a_database(seeded: Seeded, junk: bytes) -> None:
    db = seeded.server.db_path
    before = snapshot(db)
    moved = move_away(db)
    db.write_bytes(junk)
    try:
        for response in [*seeded.writes(), *seeded.reads()]:
            assert_refused(response, 500, "storage_corrupt", retry=False)
        assert db.read_bytes() == junk, "nothing may be written into a file that is not ours"
    finally:
        move_back(moved)
    assert snapshot(db) == before
    seeded.assert_reads_work()
    seeded.assert_recovered()


def test_the_server_answers_while_a_fault_lasts_and_after(seeded: Seeded) -> None:
    """A fault is not a crash: the same process serves before, during and after it."""
    assert seeded.server.process is not None
    pid = seeded.server.process.pid
    moved = move_away(seeded.server.db_path)
    try:
        for _ in range(20):
            assert seeded.reads()[0].status_code == 503
    finally:
        move_back(moved)
    seeded.assert_recovered()
    assert seeded.server.process is not None and seeded.server.process.pid == pid
    assert seeded.server.process.poll() is None
