"""Backups under a rollback journal (the EFS stage), on real files: the copy goes step by
step, so writers go on while it runs; a database written all the time is copied in one
step, and says so; a backup killed midway (a Lambda timeout) publishes nothing, and the
next backup clears what it left."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from bench import loader
from chalicelib import settings
from chalicelib.backups import backup
from chalicelib.backups.check import check_database
from chalicelib.backups.files import LOCK_NAME, list_backups, manifest_path
from chalicelib.storage import migrations
from harness.server_process import PROJECT_DIR, Server
from tests.helpers import example_ticket

TIMEOUT = 60
# The server's writers give up after this long, a fraction of what copying the whole
# database takes: a copy that held the read lock throughout would make them answer 503.
SERVER_BUSY_TIMEOUT_MS = "100"


@pytest.fixture
def big_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """About 180 MiB in 8,000 tickets: well over a hundred steps to copy, little to check,
    in a rollback journal."""
    monkeypatch.setenv(settings.JOURNAL_MODE_VARIABLE, "truncate")
    path = tmp_path / "torrentino.db"
    loader.build(path, 8_000, states={"pending": 1}, description_chars=10_000)
    migrations.migrate(path)  # out of the loader's WAL, as the service opens it
    return path


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.001)


def being_written(backups: Path) -> list[Path]:
    """The hidden files of a backup in progress."""
    return sorted(backups.glob(".*.tmp*")) if backups.is_dir() else []


def ticket_ids(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT id FROM tickets")}
    finally:
        conn.close()


def test_writers_go_on_while_a_backup_copies_the_database(big_db: Path, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    answers: list[int] = []
    during: list[str] = []

    def write_while_copying(url: str) -> None:
        session = requests.Session()
        wait_for(lambda: bool(being_written(backups)), "the copy to begin")
        for _ in range(6):  # each one starts the copy over: fewer than MAX_RESTARTS
            created = session.post(f"{url}/api/v1/tickets", json=example_ticket(), timeout=30)
            answers.append(created.status_code)
            if created.status_code == 201:
                during.append(created.json()["id"])
                read = session.get(f"{url}/api/v1/tickets/{during[-1]}", timeout=30)
                answers.append(read.status_code)
            time.sleep(0.02)

    with Server(big_db, env={settings.BUSY_TIMEOUT_VARIABLE: SERVER_BUSY_TIMEOUT_MS}) as server:
        session = requests.Session()
        before = [
            session.post(f"{server.url}/api/v1/tickets", json=example_ticket(), timeout=30)
            for _ in range(5)
        ]
        assert [answer.status_code for answer in before] == [201] * 5
        writer = threading.Thread(target=write_while_copying, args=(server.url,))
        writer.start()
        try:
            created = backup.create_backup(big_db, actor="root", backup_dir=backups)
        finally:
            writer.join(timeout=TIMEOUT)

    assert answers == [201, 200] * 6  # no 503: no writer or reader waited out the copy
    assert created.verified and created.note is None  # copied step by step
    copy = backups / created.name
    report = check_database(copy)
    assert report.ok, report.problems
    assert {answer.json()["id"] for answer in before} <= ticket_ids(copy)
    assert set(during) <= ticket_ids(big_db)


# A write every few milliseconds, as long as `stop` does not exist: far more often than a
# copy of the whole database takes, and yet with room for other writers in between.
WRITE_ALL_THE_TIME = """
import sys
import time
from pathlib import Path

from chalicelib.errors import StorageUnavailable
from chalicelib.service.unit_of_work import open_storage
from chalicelib.tickets.model import CreateTicketRequest
from tests.helpers import example_ticket

database, stop = Path(sys.argv[1]), Path(sys.argv[2])
request = CreateTicketRequest.model_validate(example_ticket())
with open_storage(database) as storage:
    while not stop.exists():
        try:
            print(storage.tickets.create(request, created_by="bot").id, flush=True)
        except StorageUnavailable as error:
            print("refused:", error.message, flush=True)
        time.sleep(0.005)
"""


def test_a_database_written_all_the_time_is_copied_in_one_step(
    big_db: Path, tmp_path: Path
) -> None:
    backups, stop, written = tmp_path / "backups", tmp_path / "stop", tmp_path / "written"
    with written.open("w") as output:
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITE_ALL_THE_TIME, str(big_db), str(stop)],
            cwd=PROJECT_DIR,
            stdout=output,
        )
    try:

        def writes_before() -> bool:
            assert writer.poll() is None, "the writer stopped"
            return len(written.read_text().splitlines()) >= 5

        wait_for(writes_before, "writes before the backup")
        before = ticket_ids(big_db)
        created = backup.create_backup(big_db, actor="root", backup_dir=backups)
    finally:
        stop.touch()
        writer.wait(timeout=TIMEOUT)

    # Every write started the step-by-step copy over, so it was made in one step, and
    # says so; the writer waited for it, well within the busy timeout.
    assert created.note is not None and "copied in one step" in created.note
    answers = written.read_text().splitlines()
    assert [line for line in answers if line.startswith("refused")] == []
    assert created.verified
    copy = backups / created.name
    assert check_database(copy).ok
    assert before <= ticket_ids(copy)
    conn = sqlite3.connect(big_db)
    try:
        [(note,)] = conn.execute(
            "SELECT json_extract(data, '$.note') FROM audit_events"
            " WHERE event_type = 'backup_created'"
        ).fetchall()
    finally:
        conn.close()
    assert note == created.note


def test_a_backup_killed_midway_publishes_nothing_and_the_next_clears_it(
    big_db: Path, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    command = [sys.executable, "-m", "chalicelib.backup", "--db", str(big_db)]
    command += ["--backup-dir", str(backups), "create"]
    # As a Lambda function's timeout does: the process ends wherever it is.
    cut_off = subprocess.Popen(command, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: bool(being_written(backups)), "the backup to begin")
    finally:
        cut_off.send_signal(signal.SIGKILL)
        cut_off.wait(timeout=TIMEOUT)
    left = being_written(backups)
    assert left
    assert list_backups(backups, big_db.stem) == []  # nothing was published

    taken = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, check=False)

    assert taken.returncode == 0, taken.stderr
    [info] = list_backups(backups, big_db.stem)
    assert info.verified
    assert being_written(backups) == []
    assert sorted(path.name for path in backups.iterdir()) == sorted(
        [LOCK_NAME, info.name, manifest_path(backups / info.name).name]
    )
