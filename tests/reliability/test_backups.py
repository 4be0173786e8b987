"""Backups against real servers and files: taken under write load, restored into a server
that serves them, a full disk mid-backup, a restore refused while the server runs, and
the server's own schedule: at start-up, a day later, and after a failure."""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from bench import loader
from chalicelib.backups.check import check_database
from chalicelib.backups.files import (
    LOCK_NAME,
    backup_name,
    list_backups,
    manifest_path,
    read_manifest,
)
from chalicelib.backups.schedule import run_scheduled_backups
from chalicelib.storage import migrations
from chalicelib.tickets.model import CreateTicketRequest
from harness.server_process import PROJECT_DIR, Server
from tests.helpers import example_ticket, with_storage
from tests.reliability.load import Ledger, run_clients
from tests.reliability.test_storage_faults import snapshot

CLIENTS = 8
TIMEOUT = 60


def backup_cli(*args: str, db: Path, backups: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "chalicelib.backup", "--db", str(db)]
    return subprocess.run(
        [*command, "--backup-dir", str(backups), *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def rows(db: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def acknowledged(ledger: Ledger) -> tuple[dict[str, Any], dict[str, Any]]:
    with ledger.lock:
        return dict(ledger.created), dict(ledger.cancelled)


def assert_holds(db: Path, created: dict[str, Any], cancelled: dict[str, Any]) -> None:
    """Every acknowledged create and cancel is in `db`, with its audit event."""
    states = dict(rows(db, "SELECT id, json_extract(state, '$.type') FROM tickets"))
    logged = set(rows(db, "SELECT event_type, ticket_id FROM audit_events"))
    for ticket_id in created:
        assert ticket_id in states, ticket_id
        assert ("ticket_created", ticket_id) in logged, ticket_id
    for ticket_id in cancelled:
        assert states[ticket_id] == "cancelled", ticket_id
        assert ("ticket_cancelled", ticket_id) in logged, ticket_id


def test_a_backup_under_write_load_holds_every_acknowledged_write_and_restores(
    tmp_path: Path,
) -> None:
    db, backups = tmp_path / "live" / "torrentino.db", tmp_path / "backups"
    db.parent.mkdir()
    loader.build(db, 20_000, states={"pending": 1})  # big enough that the backup takes a while
    server = Server(db).start()
    ledger, stop = Ledger(), threading.Event()
    threads = run_clients(server.url, ledger, CLIENTS, lambda: not stop.is_set(), mix="writes")
    try:
        wait_for(lambda: ledger.acknowledged_writes() >= 40, "writes before the backup")
        before = acknowledged(ledger)
        result = backup_cli("create", db=db, backups=backups)
        during = acknowledged(ledger)
        target = ledger.acknowledged_writes() + 40
        wait_for(lambda: ledger.acknowledged_writes() >= target, "writes after the backup")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=TIMEOUT)
        server.stop()
    assert result.returncode == 0, result.stderr
    assert not ledger.server_errors() and not ledger.failures
    [info] = list_backups(backups, db.stem)
    copy = backups / info.name

    report = check_database(copy)
    assert report.ok, report.problems
    assert_holds(copy, *before)
    # The writes acknowledged while the backup ran went on, into the live database.
    assert len(during[0]) + len(during[1]) > len(before[0]) + len(before[1])
    assert_holds(db, *acknowledged(ledger))
    live_events = rows(db, "SELECT data FROM audit_events WHERE event_type = 'backup_created'")
    assert [json.loads(data)["file"] for (data,) in live_events] == [info.name]

    restored = backup_cli("restore", info.name, db=db, backups=backups)
    assert restored.returncode == 0, restored.stderr
    later = set(ledger.created) - set(during[0])  # acknowledged after the backup finished
    assert later
    with Server(db) as server:
        session = requests.Session()
        for ticket_id, ticket in before[0].items():
            got = session.get(f"{server.url}/api/v1/tickets/{ticket_id}", timeout=TIMEOUT)
            assert got.status_code == 200, ticket_id
            assert got.json()["created_at"] == ticket["created_at"]
        for ticket_id in later:
            assert (
                session.get(f"{server.url}/api/v1/tickets/{ticket_id}", timeout=30).status_code
                == 404
            )
        new = session.post(f"{server.url}/api/v1/tickets", json=example_ticket(), timeout=30)
        assert new.status_code == 201
    aside = next(db.parent.glob("torrentino.before-restore-*.db"))
    assert_holds(aside, *acknowledged(ledger))  # the replaced database, kept whole
    assert check_database(db).ok


def test_a_full_disk_during_a_backup_leaves_no_file_and_the_database_untouched(
    journal_mode: str, tmp_path: Path
) -> None:
    """In each journal mode: VACUUM INTO (WAL) and the step-by-step copy (rollback)."""
    db, backups = tmp_path / "torrentino.db", tmp_path / "backups"
    loader.build(db, 3_000, states={"pending": 1})  # about 4 MiB: the backup outgrows 1 MiB
    # The server's output goes to /dev/null: the file size limit would refuse its log too.
    env = {"TORRENTINO_BACKUP_DIR": str(backups)}
    server = Server(db, env=env, log_path=Path(os.devnull)).start()
    assert server.process is not None
    pid = server.process.pid
    try:
        before = snapshot(db)
        _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        # Under 1 MiB the failure is still recorded in WAL mode, whose small WAL takes the
        # event; a rollback journal writes into the database file, larger than that.
        for limit, recorded in ((0, False), (1 << 20, journal_mode == "wal")):
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, hard))
            try:
                failed = requests.post(f"{server.url}/api/v1/backups", timeout=TIMEOUT)
            finally:
                resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))
            assert failed.status_code == 503, failed.text
            error = failed.json()["error"]
            assert error["code"] == "backup_failed"
            assert "disk I/O error" in error["message"] and "full disk" in error["message"]
            assert ("not in the audit log" in error["message"]) is not recorded
            assert sorted(os.listdir(backups)) == [LOCK_NAME]  # no partial file, no temp
        tickets, events = snapshot(db)
        assert tickets == before[0]
        assert events[: len(before[1])] == before[1]
        recorded_events = [(e[1], json.loads(e[5])) for e in events[len(before[1]) :]]
        expected = ["backup_failed"] if journal_mode == "wal" else []
        assert [event_type for event_type, _ in recorded_events] == expected
        assert all("disk I/O error" in data["reason"] for _, data in recorded_events)
        ok = requests.post(f"{server.url}/api/v1/backups", timeout=TIMEOUT)
        assert ok.status_code == 201, ok.text  # and the next one works
    finally:
        server.stop()
    assert check_database(db).ok


def test_restore_is_refused_while_the_server_runs(tmp_path: Path) -> None:
    db, backups = tmp_path / "torrentino.db", tmp_path / "backups"
    with Server(db) as server:
        requests.post(f"{server.url}/api/v1/tickets", json=example_ticket(), timeout=30)
        created = requests.post(f"{server.url}/api/v1/backups", timeout=TIMEOUT).json()
        requests.post(f"{server.url}/api/v1/tickets", json=example_ticket(), timeout=30)
        before = snapshot(db)
        refused = backup_cli("restore", created["name"], db=db, backups=backups)
        assert refused.returncode == 1
        assert "stop the server, then restore" in refused.stderr
        assert snapshot(db) == before
        assert not list(tmp_path.glob("*before-restore*"))
        listed = requests.get(f"{server.url}/api/v1/tickets", timeout=30).json()
        assert listed["total"] == 2  # still serving, the same data
    restored = backup_cli("restore", created["name"], db=db, backups=backups)
    assert restored.returncode == 0, restored.stderr
    assert check_database(db).tickets == 1


def test_the_server_backs_up_at_start_up_when_due_and_not_again_within_a_day(
    tmp_path: Path,
) -> None:
    db = tmp_path / "torrentino.db"
    server = Server(db, env={"TORRENTINO_BACKUP_EVERY_HOURS": "24"})
    with server:
        wait_for(lambda: bool(list_backups(tmp_path / "backups", db.stem)), "the start-up backup")
        listed = requests.get(f"{server.url}/api/v1/backups", timeout=30).json()["backups"]
        assert [b["verified"] for b in listed] == [True]
        wait_for(lambda: "next backup check in" in server.log(), "the scheduler's next check")
    first_start = server.log().count("next backup check in")
    with server:  # a restart within the day: the scheduler looks, and does not back up
        wait_for(
            lambda: server.log().count("next backup check in") > first_start,
            "the scheduler's check after the restart",
        )
    assert len(list_backups(tmp_path / "backups", db.stem)) == 1
    [(actor,)] = rows(db, "SELECT actor FROM audit_events WHERE event_type = 'backup_created'")
    assert actor == "system"


@contextmanager
def scheduler(db: Path, **intervals: float) -> Iterator[None]:
    """The local server's scheduler loop on `db`, in a thread of this process, for the block."""
    stop = threading.Event()
    thread = threading.Thread(target=run_scheduled_backups, args=(db, stop), kwargs=intervals)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=TIMEOUT)
    assert not thread.is_alive()


@pytest.fixture
def scheduled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A database with one ticket, backed up daily into `backups/`: (database, backups)."""
    db, backups = tmp_path / "torrentino.db", tmp_path / "backups"
    migrations.migrate(db)
    request = CreateTicketRequest.model_validate(example_ticket(priority=3))
    with_storage(db, lambda storage: storage.tickets.create(request, created_by="alice"))
    monkeypatch.setenv("TORRENTINO_BACKUP_EVERY_HOURS", "24")
    monkeypatch.setenv("TORRENTINO_BACKUP_DIR", str(backups))
    return db, backups


def a_day_earlier(backup: Path, stem: str) -> Path:
    """Make `backup` (and its manifest) look taken a day earlier: as if a day had passed."""
    manifest = read_manifest(backup)
    assert manifest is not None
    taken_at = manifest.taken_at - timedelta(days=1)
    earlier = backup.with_name(backup_name(stem, taken_at))
    moved = manifest.model_copy(update={"name": earlier.name, "taken_at": taken_at})
    manifest_path(earlier).write_text(moved.model_dump_json())
    backup.rename(earlier)
    manifest_path(backup).unlink()
    return earlier


def test_the_scheduler_takes_the_next_backup_when_it_is_due_again(
    scheduled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, backups = scheduled
    said: list[str] = []

    def has_said(words: str) -> bool:
        said.append(capsys.readouterr().err)  # what the scheduler thread printed so far
        return words in "".join(said)

    # It re-reads the schedule every second (its shortest sleep) rather than every hour.
    with scheduler(db, longest_sleep=1.0):
        wait_for(lambda: has_said("next backup check in"), "the sleep after the first backup")
        [first] = list_backups(backups, db.stem)
        yesterday = a_day_earlier(backups / first.name, db.stem)
        wait_for(lambda: len(list_backups(backups, db.stem)) == 2, "the backup a day later")
    newest, older = list_backups(backups, db.stem)
    assert older.name == yesterday.name
    assert newest.verified and newest.taken_at > first.taken_at
    created = rows(db, "SELECT actor FROM audit_events WHERE event_type = 'backup_created'")
    assert created == [("system",), ("system",)]


def set_priority_behind_the_audit_log(db: Path, priority: int) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute("UPDATE tickets SET priority = ?", (priority,))
    finally:
        conn.close()


def test_the_scheduler_retries_a_failed_backup_after_the_retry_interval(
    scheduled: tuple[Path, Path],
) -> None:
    db, backups = scheduled
    set_priority_behind_the_audit_log(db, 999)  # a snapshot of it fails verification
    # The schedule itself is re-read only hourly: a retry within the test is the retry's.
    with scheduler(db, retry_after_failure=1.0):
        failures = "SELECT data FROM audit_events WHERE event_type = 'backup_failed'"
        wait_for(lambda: bool(rows(db, failures)), "the failed start-up backup")
        set_priority_behind_the_audit_log(db, 3)  # the database is put right
        wait_for(lambda: bool(list_backups(backups, db.stem)), "the backup on a retry")
    [taken] = list_backups(backups, db.stem)
    assert taken.verified and taken.tickets == 1
    reasons = [json.loads(data)["reason"] for (data,) in rows(db, failures)]
    assert reasons and all("failed verification" in reason for reason in reasons)
    created = rows(db, "SELECT data FROM audit_events WHERE event_type = 'backup_created'")
    assert [json.loads(data)["file"] for (data,) in created] == [taken.name]
