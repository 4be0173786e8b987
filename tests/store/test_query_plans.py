"""Every list filter, every count and every single-row read goes through an index; the
default orders need no sort step. (So the seed's indexes that are prefixes of others could
be dropped, by migration 9: fewer pages written per create and cancel.)

The plans are printed (`pytest -s`) so they can be read, and asserted so they cannot rot.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chalicelib.audit import log as audit_log
from chalicelib.audit.log import AuditFilter
from chalicelib.service.unit_of_work import open_storage
from chalicelib.storage import migrations
from chalicelib.tickets import listing, rows
from chalicelib.tickets.listing import TicketFilter
from chalicelib.tickets.model import CreateTicketRequest
from chalicelib.tickets.store import SqliteTicketStore
from tests.helpers import example_ticket

TICKET_FILTERS = {
    "queue order": TicketFilter(),
    "one state": TicketFilter(state=["pending"]),
    "several states": TicketFilter(state=["pending", "failed"]),
    "creator": TicketFilter(created_by="user3"),
    "state and creator": TicketFilter(state=["pending"], created_by="user3"),
    "one tag": TicketFilter(tag=["tag7"]),
    "two tags": TicketFilter(tag=["tag7", "music"]),
    "created after": TicketFilter(created_after="2030-01-01T00:00:00Z"),
    "newest first": TicketFilter(sort="newest"),
    "newest pending": TicketFilter(sort="newest", state=["pending"]),
    "newest in a window": TicketFilter(
        sort="newest",
        created_after="2020-01-01T00:00:00Z",
        created_before="2030-01-01T00:00:00Z",
    ),
}
AUDIT_FILTERS = {
    "oldest first": (AuditFilter(), None),
    "one type": (AuditFilter(event_type=["ticket_cancelled"]), None),
    "one ticket": (AuditFilter(ticket_id="00000000-0000-4000-8000-000000000000"), None),
    "since": (AuditFilter(since="2030-01-01T00:00:00Z"), None),
    "type in a window": (
        AuditFilter(
            event_type=["ticket_created"],
            since="2020-01-01T00:00:00Z",
            until="2030-01-01T00:00:00Z",
        ),
        None,
    ),
    "a user's view": (AuditFilter(), "user3"),
    # Newest first: the same indexes, scanned backwards.
    "newest first": (AuditFilter(sort="newest"), None),
    "newest of one type": (AuditFilter(sort="newest", event_type=["ticket_cancelled"]), None),
    "newest of one ticket": (
        AuditFilter(sort="newest", ticket_id="00000000-0000-4000-8000-000000000000"),
        None,
    ),
    "newest in a window": (
        AuditFilter(sort="newest", since="2020-01-01T00:00:00Z", until="2030-01-01T00:00:00Z"),
        None,
    ),
}
# Sorting the matches is fine where no single index can give their order.
MAY_SORT = {"several states", "one tag", "two tags", "a user's view"}


def create_and_cancel(tickets: SqliteTicketStore) -> None:
    for n in range(400):
        request = CreateTicketRequest.model_validate(
            example_ticket(
                priority=n % 7,
                query_context={"tags": ["music", f"tag{n % 20}"], "description": str(n)},
            )
        )
        created = tickets.create(request, created_by=f"user{n % 10}")
        if n % 3 == 0:
            tickets.cancel(created.id, cancelled_by="a", reason=None)


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plans") / "plans.db"
    migrations.migrate(path)
    with open_storage(path) as storage:
        create_and_cancel(storage.tickets)
    conn = sqlite3.connect(path)
    conn.execute("ANALYZE")
    conn.close()
    return path


def plan(path: Path, sql: str, params: list[object]) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    finally:
        conn.close()


def assert_indexed(name: str, steps: list[str]) -> None:
    print(f"{name}: {steps}")
    for step in steps:
        if step.startswith(("SCAN", "SEARCH")):
            # Every table access goes through an index; "SCAN tickets" alone is a full scan.
            assert " USING " in step, f"{name}: full scan in {steps}"
    if name not in MAY_SORT:
        assert not any("TEMP B-TREE" in step for step in steps), f"{name}: sorts: {steps}"


@pytest.mark.parametrize("name", TICKET_FILTERS)
def test_ticket_list_plans(populated: Path, name: str) -> None:
    sql, params = listing.list_query(TICKET_FILTERS[name])
    assert_indexed(name, plan(populated, sql, params))


@pytest.mark.parametrize("name", AUDIT_FILTERS)
def test_audit_list_plans(populated: Path, name: str) -> None:
    flt, visible_to = AUDIT_FILTERS[name]
    sql, params = audit_log.list_query(flt, visible_to)
    assert_indexed(name, plan(populated, sql, params))


CURSOR = (3, "2026-01-01T00:00:00.000000Z", "00000000-0000-4000-8000-000000000000")
CURSOR_FILTERS = {
    "after, queue order": TicketFilter(),
    "after, one state": TicketFilter(state=["pending"]),
    "after, newest pending": TicketFilter(sort="newest", state=["pending"]),
}


@pytest.mark.parametrize("name", CURSOR_FILTERS)
def test_keyset_pages_seek_instead_of_stepping_over_an_offset(populated: Path, name: str) -> None:
    sql, params = listing.list_query(CURSOR_FILTERS[name], CURSOR)
    steps = plan(populated, sql, params)
    print(f"{name}: {steps}")
    searches = [step for step in steps if step.startswith(("SCAN", "SEARCH"))]
    # Each part of the page starts at the cursor with an index seek.
    assert all(
        step.startswith("SEARCH") and " USING " in step for step in searches if "tickets" in step
    ), steps


@pytest.mark.parametrize(("sort", "seek"), [("oldest", "timestamp>?"), ("newest", "timestamp<?")])
def test_audit_keyset_page_seeks(populated: Path, sort: str, seek: str) -> None:
    cursor = ("2026-01-01T00:00:00.000000Z", 10)
    sql, params = audit_log.list_query(AuditFilter(sort=sort), None, cursor)
    steps = plan(populated, sql, params)
    print(f"audit after, {sort} first: {steps}")
    (step,) = steps
    assert step.startswith(f"SEARCH audit_events USING INDEX idx_audit_time ({seek}")


def test_the_newest_first_count_is_the_same_lookup_as_oldest_first() -> None:
    for oldest in (AuditFilter(), AuditFilter(event_type=["ticket_created"])):
        newest = oldest.model_copy(update={"sort": "newest"})
        assert audit_log.count_query(newest) == audit_log.count_query(oldest)
        assert "audit_counts" in audit_log.count_query(newest)[0]


@pytest.mark.parametrize("name", TICKET_FILTERS)
def test_ticket_count_plans(populated: Path, name: str) -> None:
    sql, params = listing.count_query(TICKET_FILTERS[name])
    steps = plan(populated, sql, params)
    print(f"count, {name}: {steps}")
    for step in steps:
        if step.startswith(("SCAN", "SEARCH")):
            assert " USING " in step or "ticket_counts" in step, f"{name}: full scan in {steps}"


@pytest.mark.parametrize("name", AUDIT_FILTERS)
def test_audit_count_plans(populated: Path, name: str) -> None:
    flt, visible_to = AUDIT_FILTERS[name]
    sql, params = audit_log.count_query(flt, visible_to)
    steps = plan(populated, sql, params)
    print(f"count, {name}: {steps}")
    for step in steps:
        if step.startswith(("SCAN", "SEARCH")):
            assert " USING " in step or "audit_counts" in step, f"{name}: full scan in {steps}"


SINGLE_ROW_READS = {
    "a ticket by id": f"SELECT {rows.TICKET_COLUMNS} FROM tickets WHERE id = ?",
    "a ticket's state change": "UPDATE tickets SET state = ?, updated_at = ? WHERE id = ?",
    "a ticket's events": "SELECT id FROM audit_events WHERE ticket_id = ? ORDER BY id",
}


@pytest.mark.parametrize("name", SINGLE_ROW_READS)
def test_single_ticket_reads_use_the_primary_key_or_an_index(populated: Path, name: str) -> None:
    sql = SINGLE_ROW_READS[name]
    steps = plan(populated, sql, ["x"] * sql.count("?"))
    print(f"{name}: {steps}")
    assert all(" USING " in s for s in steps if s.startswith(("SCAN", "SEARCH"))), steps


def index_key(sql: str) -> tuple[str, list[str]]:
    """The table and the key columns (or expressions) of a CREATE INDEX statement."""
    _, _, on = sql.partition(" ON ")
    table, _, rest = on.partition("(")
    columns, depth, current = [], 0, ""
    for char in rest[: rest.rindex(")")]:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            columns.append(current.strip())
            current = ""
        else:
            current += char
    return table.strip(), [*columns, current.strip()]


def test_no_index_is_a_leading_prefix_of_another(populated: Path) -> None:
    """A prefix index serves no query its longer twin cannot, and costs a write per change."""
    conn = sqlite3.connect(populated)
    try:
        keys = {
            name: index_key(sql)
            for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
    finally:
        conn.close()
    assert "idx_tickets_state_queue" in keys
    for short, (table, columns) in keys.items():
        for long, (other_table, other_columns) in keys.items():
            prefix = other_columns[: len(columns)] == columns
            assert short == long or table != other_table or not prefix, f"{short} is in {long}"


def test_the_index_key_parser_reads_expressions_whole() -> None:
    assert index_key(
        "CREATE INDEX i ON tickets(json_extract(state, '$.type'), priority DESC, id)"
    ) == ("tickets", ["json_extract(state, '$.type')", "priority DESC", "id"])
