"""The consistency check passes a healthy database and names every kind of damage."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from chalicelib.backups import check
from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key, revoke_key
from chalicelib.service.unit_of_work import open_storage
from chalicelib.storage import migrations
from chalicelib.tickets.model import CreateTicketRequest
from chalicelib.tickets.states import Completed, Failed
from chalicelib.tickets.store import SqliteTicketStore
from chalicelib.timestamps import utc_now
from harness.server_process import PROJECT_DIR
from tests.helpers import example_ticket

Tickets = dict[str, str]


@pytest.fixture
def populated(store: SqliteTicketStore) -> Tickets:
    """One ticket in each state, by state name."""

    def create(priority: int) -> str:
        request = CreateTicketRequest.model_validate(example_ticket(priority=priority))
        return store.create(request, created_by="alice").id

    tickets = {name: create(n) for n, name in enumerate(("pending", "cancelled", "done", "bad"))}
    store.cancel(tickets["cancelled"], cancelled_by="bob", reason="'; DROP TABLE tickets; --")
    store.update_state(tickets["done"], Completed(completed_at=utc_now()), actor="worker")
    store.update_state(tickets["bad"], Failed(error="x", failed_at=utc_now()), actor="worker")
    return tickets


def sql(path: Path, statement: str, *params: object) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


def test_a_healthy_database_passes(db_path: Path, populated: Tickets) -> None:
    report = check.check_database(db_path)
    assert report.problems == []
    assert (report.tickets, report.events) == (4, 7)


Damage = Callable[[Path, Tickets], None]

DAMAGE: dict[str, tuple[Damage, str]] = {
    "state changed behind the log's back": (
        lambda p, t: sql(
            p, "UPDATE tickets SET state = ? WHERE id = ?", '{"type": "pending"}', t["cancelled"]
        ),
        "stored state is 'pending' but its audit events give {'cancelled':",
    ),
    "priority changed behind the log's back": (
        lambda p, t: sql(p, "UPDATE tickets SET priority = 9 WHERE id = ?", t["pending"]),
        "stored priority is 9 but its audit events give 0",
    ),
    "cancel event lost": (
        lambda p, t: sql(p, "DELETE FROM audit_events WHERE event_type = 'ticket_cancelled'"),
        "stored state is {'cancelled':",
    ),
    "created event lost": (
        lambda p, t: sql(
            p,
            "DELETE FROM audit_events WHERE event_type = 'ticket_created' AND ticket_id = ?",
            t["pending"],
        ),
        "has no ticket_created event",
    ),
    "created event duplicated": (
        lambda p, t: sql(
            p,
            "INSERT INTO audit_events (event_type, timestamp, ticket_id, actor, data)"
            " SELECT event_type, timestamp, ticket_id, actor, data FROM audit_events"
            " WHERE event_type = 'ticket_created' AND ticket_id = ?",
            t["pending"],
        ),
        "has 2 ticket_created events",
    ),
    "ticket lost": (
        lambda p, t: sql(p, "DELETE FROM tickets WHERE id = ?", t["done"]),
        "which does not exist",
    ),
    "event for a ticket that never existed": (
        lambda p, t: sql(
            p,
            "INSERT INTO audit_events (event_type, timestamp, ticket_id, actor, data)"
            " VALUES ('ticket_cancelled', '2030-01-01T00:00:00.000000Z', 'ghost', 'a',"
            ' \'{"ticket_id": "ghost"}\')',
        ),
        "refers to ticket ghost, which does not exist",
    ),
    "event data unreadable": (
        lambda p, t: sql(p, "UPDATE audit_events SET data = '{oops' WHERE id = 2"),
        "unreadable event",
    ),
    "ticket row unreadable, its events not called orphans": (
        lambda p, t: sql(
            p, 'UPDATE tickets SET state = \'{"type": "exploded"}\' WHERE id = ?', t["bad"]
        ),
        "unreadable row",
    ),
    "ticket_id column disagrees with the data": (
        lambda p, t: sql(p, "UPDATE audit_events SET ticket_id = 'other' WHERE id = 2"),
        "does not match",
    ),
    "schema from elsewhere": (
        lambda p, t: sql(p, "PRAGMA user_version = 99"),
        "schema version 99",
    ),
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_each_kind_of_damage_is_named(db_path: Path, populated: Tickets, name: str) -> None:
    damage, needle = DAMAGE[name]
    damage(db_path, populated)
    report = check.check_database(db_path)
    assert not report.ok
    assert any(needle in str(problem) for problem in report.problems), report.problems


def test_a_damaged_page_fails_integrity_check(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    migrations.migrate(path)
    with open_storage(path) as storage:
        for n in range(300):
            request = CreateTicketRequest.model_validate(example_ticket(priority=n))
            storage.tickets.create(request, created_by="a")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    with path.open("r+b") as file:  # scribble over the middle third of the file
        for page in range(pages // 3, 2 * pages // 3):
            file.seek(page * page_size + 100)
            file.write(b"\xa5" * 200)
    report = check.check_database(path)
    assert not report.ok
    assert all(problem.subject == "database" for problem in report.problems[:1])


@pytest.mark.parametrize("content", [None, b"", b"not a database at all " * 100])
def test_a_missing_empty_or_foreign_file_fails(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "t.db"
    if content is not None:
        path.write_bytes(content)
    report = check.check_database(path)
    assert not report.ok
    assert report.problems[0].subject == "database"


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chalicelib.check", *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_command_exits_0_on_a_healthy_database(db_path: Path, populated: Tickets) -> None:
    result = run_check(str(db_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok (4 tickets, 7 events" in result.stdout


def test_the_command_exits_1_and_names_each_mismatch(db_path: Path, populated: Tickets) -> None:
    sql(db_path, "UPDATE tickets SET priority = 9 WHERE id = ?", populated["pending"])
    sql(db_path, "DELETE FROM tickets WHERE id = ?", populated["done"])
    result = run_check(str(db_path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"ticket {populated['pending']}: stored priority") for line in lines)
    assert any(populated["done"] in line and "does not exist" in line for line in lines)
    assert "problem(s) found" in result.stderr


def test_the_command_refuses_bad_usage() -> None:
    assert run_check("a", "b").returncode == 2


def test_the_check_does_not_change_the_data(db_path: Path, populated: Tickets) -> None:
    wal = db_path.with_name(db_path.name + "-wal")
    before = db_path.read_bytes(), wal.read_bytes() if wal.exists() else b""
    check.check_database(db_path)
    # SQLite may create an empty WAL and its index to read a WAL database; no data moves.
    assert (db_path.read_bytes(), wal.read_bytes() if wal.exists() else b"") == before


def test_events_of_an_unreadable_ticket_are_not_called_orphans(
    db_path: Path, populated: Tickets
) -> None:
    sql(db_path, """UPDATE tickets SET state = '{"type": "x"}' WHERE id = ?""", populated["bad"])
    problems = check.check_database(db_path).problems
    assert [p.subject for p in problems] == [f"ticket {populated['bad']}"]


@pytest.fixture
def keyed(db_path: Path) -> Tickets:
    """Two keys, one of them revoked, by id: made as `make keys` makes them."""
    alice, _ = create_key(db_path, "alice", Role.USER)
    bob, _ = create_key(db_path, "bob", Role.ADMIN)
    revoke_key(db_path, bob.id)
    return {"alice": alice.id, "bob": bob.id}


KEY_DAMAGE: dict[str, tuple[Damage, str]] = {
    "a key without its created event (the hidden key of issue 19)": (
        lambda p, k: sql(
            p,
            "INSERT INTO api_keys (id, user, role, secret_hash, created_at)"
            " VALUES ('0123456789ab', 'mallory', 'admin', 'x', '2026-01-01T00:00:00.000000Z')",
        ),
        "key 0123456789ab: has no api_key_created event",
    ),
    "a role raised behind the log's back": (
        lambda p, k: sql(p, "UPDATE api_keys SET role = 'admin' WHERE id = ?", k["alice"]),
        "stored role is 'admin' but its audit events give 'user'",
    ),
    "a user renamed behind the log's back": (
        lambda p, k: sql(p, "UPDATE api_keys SET user = 'system' WHERE id = ?", k["alice"]),
        "stored user is 'system' but its audit events give 'alice'",
    ),
    "a revocation undone": (
        lambda p, k: sql(p, "UPDATE api_keys SET revoked_at = NULL WHERE id = ?", k["bob"]),
        "stored revoked_at is None but its audit events give '",
    ),
    "a revocation without its event": (
        lambda p, k: sql(p, "UPDATE api_keys SET revoked_at = created_at WHERE id = ?", k["alice"]),
        "but its audit events give None",
    ),
    "the created event lost": (
        lambda p, k: sql(
            p,
            "DELETE FROM audit_events WHERE event_type = 'api_key_created'"
            " AND json_extract(data, '$.key_id') = ?",
            k["alice"],
        ),
        "has no api_key_created event",
    ),
    "the created event duplicated": (
        lambda p, k: sql(
            p,
            "INSERT INTO audit_events (event_type, timestamp, ticket_id, actor, data)"
            " SELECT event_type, timestamp, ticket_id, actor, data FROM audit_events"
            " WHERE event_type = 'api_key_created' AND json_extract(data, '$.key_id') = ?",
            k["bob"],
        ),
        "has 2 api_key_created events",
    ),
    "a key deleted": (
        lambda p, k: sql(p, "DELETE FROM api_keys WHERE id = ?", k["alice"]),
        "which does not exist",
    ),
}


def test_keys_made_and_revoked_as_the_command_line_does_pass(db_path: Path, keyed: Tickets) -> None:
    assert check.check_database(db_path).problems == []


@pytest.mark.parametrize("name", list(KEY_DAMAGE))
def test_each_key_the_log_does_not_explain_is_named(
    db_path: Path, keyed: Tickets, name: str
) -> None:
    damage, needle = KEY_DAMAGE[name]
    damage(db_path, keyed)
    problems = [str(problem) for problem in check.check_database(db_path).problems]
    assert any(needle in problem for problem in problems), problems
    result = run_check(str(db_path))
    assert result.returncode == 1 and needle in result.stdout
