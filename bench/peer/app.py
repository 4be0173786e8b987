"""The peer: the seed's API as a Python developer would write it without torrentino.

FastAPI and uvicorn over the standard `sqlite3` module, following FastAPI's own tutorials
(plain `def` endpoints, a connection per request from a dependency with `yield`, pydantic
models as `response_model`), on torrentino's design: a connection per request, WAL,
`synchronous = FULL`, `BEGIN IMMEDIATE` for every write, and every acknowledged write
durable. It runs in its own virtualenv (bench/peer/.venv, from requirements.txt beside
this file) and never imports torrentino's code.

So that the comparison measures the request path and nothing else, it gets torrentino's
storage as it is: the same schema (the file is made by torrentino's migrations), the same
SQL (totals from the counter tables, the same indexes and orders), an idle connection
kept open so the WAL stays set up, and writers queued on a lock of their own. What it
leaves out is what the seed leaves out: API keys (every caller is `anonymous`), ETags,
`next` links and the consistency checks of a history.

    PEER_DB_PATH=/path/to.db uvicorn app:app --port 8000   (from this folder)
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, Field, field_validator

DB_PATH = os.environ.get("PEER_DB_PATH", "peer.db")
COLUMNS = "id, created_at, created_by, state, priority, query_context, dest_path"
STATE_TYPE = "json_extract(state, '$.type')"
QUEUE_ORDER = "priority DESC, created_at, id"
ANONYMOUS = "anonymous"

# Writers in this process take turns here rather than in SQLite's busy handler.
writer = threading.Lock()


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    # Kept open (never queried) so the WAL is not checkpointed and deleted each time the
    # last request's connection closes.
    idle = sqlite3.connect(DB_PATH, check_same_thread=False)
    idle.execute("PRAGMA journal_mode = WAL")
    yield
    idle.close()


app = FastAPI(title="peer", lifespan=lifespan)


def get_db() -> Iterator[sqlite3.Connection]:
    """A connection for one request, closed after it."""
    conn = sqlite3.connect(DB_PATH, timeout=5, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    try:
        yield conn
    finally:
        conn.close()


Db = Annotated[sqlite3.Connection, Depends(get_db)]


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    with writer:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


@contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class QueryContext(BaseModel):
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(max_length=100)
    description: str = Field(max_length=10_000)


class CreateTicket(BaseModel):
    priority: int = Field(ge=0, le=65_535)
    query_context: QueryContext
    dest_path: str = Field(min_length=1, max_length=4096)

    @field_validator("dest_path")
    @classmethod
    def absolute(cls, path: str) -> str:
        if not path.startswith("/") or ".." in path.split("/"):
            raise ValueError("dest_path must be an absolute path without '..'")
        return path


class CancelTicket(BaseModel):
    reason: str | None = Field(default=None, max_length=10_000)


class FailTicket(BaseModel):
    error: str = Field(min_length=1, max_length=10_000)


class Ticket(BaseModel):
    id: str
    created_at: str
    created_by: str
    state: str | dict[str, dict[str, Any]]
    priority: int
    query_context: QueryContext
    dest_path: str


class TicketPage(BaseModel):
    tickets: list[Ticket]
    total: int
    limit: int
    offset: int


class AuditEvent(BaseModel):
    id: int
    event_type: str
    timestamp: str
    data: dict[str, Any]


class AuditPage(BaseModel):
    events: list[AuditEvent]
    total: int
    limit: int
    offset: int


class HistoryEntry(BaseModel):
    event: AuditEvent
    state: str | dict[str, dict[str, Any]]


class TicketHistory(BaseModel):
    ticket_id: str
    entries: list[HistoryEntry]


def wire_state(stored: str) -> str | dict[str, dict[str, Any]]:
    """`{"type": "cancelled", ...}` in the database, `{"cancelled": {...}}` on the wire."""
    fields = json.loads(stored)
    kind = fields.pop("type")
    return kind if not fields else {kind: fields}


def ticket_from_row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "state": wire_state(row["state"]),
        "priority": row["priority"],
        "query_context": json.loads(row["query_context"]),
        "dest_path": row["dest_path"],
    }


def event_from_row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "event_type": row["event_type"],
        "timestamp": row["timestamp"],
        "data": json.loads(row["data"]),
    }


def record(conn: sqlite3.Connection, event_type: str, data: dict[str, Any], at: str) -> None:
    conn.execute(
        "INSERT INTO audit_events (event_type, timestamp, ticket_id, actor, data)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            event_type,
            at,
            data["ticket_id"],
            ANONYMOUS,
            json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        ),
    )


def find(conn: sqlite3.Connection, ticket_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        f"SELECT {COLUMNS}, updated_at FROM tickets WHERE id = ?", (ticket_id,)
    ).fetchone()
    if row is None:
        raise HTTPException(status_code=404, detail=f"ticket {ticket_id} not found")
    return row


@app.get("/api/v1/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/api/v1/tickets", status_code=201, response_model=Ticket)
def create_ticket(body: CreateTicket, conn: Db) -> dict[str, Any]:
    ticket_id = str(uuid.uuid4())
    context = body.query_context.model_dump()
    with write_transaction(conn):
        at = now()
        conn.execute(
            f"INSERT INTO tickets ({COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ticket_id,
                at,
                ANONYMOUS,
                json.dumps({"type": "pending"}),
                body.priority,
                json.dumps(context, ensure_ascii=False),
                body.dest_path,
                at,
            ),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO ticket_tags (tag, ticket_id) VALUES (?, ?)",
            [(tag, ticket_id) for tag in body.query_context.tags],
        )
        data = {
            "ticket_id": ticket_id,
            "created_by": ANONYMOUS,
            "priority": body.priority,
            "query_context": context,
            "dest_path": body.dest_path,
        }
        record(conn, "ticket_created", data, at)
    return {
        "id": ticket_id,
        "created_at": at,
        "created_by": ANONYMOUS,
        "state": "pending",
        "priority": body.priority,
        "query_context": context,
        "dest_path": body.dest_path,
    }


@app.get("/api/v1/tickets", response_model=TicketPage)
def list_tickets(
    conn: Db,
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    where, params = (f" WHERE {STATE_TYPE} = ?", [state]) if state else ("", [])
    with read_transaction(conn):
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM tickets{where} ORDER BY {QUEUE_ORDER} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        counted = " WHERE state = ?" if state else ""
        total = conn.execute(
            f"SELECT coalesce(sum(tickets), 0) FROM ticket_counts{counted}", params
        ).fetchone()[0]
    return {
        "tickets": [ticket_from_row(row) for row in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@app.get("/api/v1/tickets/{ticket_id}", response_model=Ticket)
def get_ticket(ticket_id: str, conn: Db) -> dict[str, Any]:
    return ticket_from_row(find(conn, ticket_id))


def move(
    conn: sqlite3.Connection, ticket_id: str, kind: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """Move a pending ticket to `kind` (cancelled, completed or failed), with its event."""
    with write_transaction(conn):
        row = find(conn, ticket_id)
        previous = json.loads(row["state"])["type"]
        if previous != "pending":
            raise HTTPException(status_code=409, detail=f"ticket is {previous}")
        at = now()
        fields = {**fields, f"{kind}_at": at}
        conn.execute(
            "UPDATE tickets SET state = ?, updated_at = ? WHERE id = ?",
            (json.dumps({"type": kind, **fields}, ensure_ascii=False), at, ticket_id),
        )
        if kind == "cancelled":
            data = {
                "ticket_id": ticket_id,
                "cancelled_by": ANONYMOUS,
                "reason": fields["reason"],
                "previous_state": previous,
            }
            record(conn, "ticket_cancelled", data, at)
        else:
            state = {kind: fields}
            data = {"ticket_id": ticket_id, "from": previous, "to": kind, "actor": ANONYMOUS}
            record(conn, "ticket_state_changed", {**data, "state": state}, at)
    return {**ticket_from_row(row), "state": {kind: fields}}


@app.delete("/api/v1/tickets/{ticket_id}", response_model=Ticket)
def cancel_ticket(ticket_id: str, conn: Db, body: CancelTicket | None = None) -> dict[str, Any]:
    reason = body.reason if body else None
    return move(conn, ticket_id, "cancelled", {"cancelled_by": ANONYMOUS, "reason": reason})


@app.post("/api/v1/tickets/{ticket_id}/complete", response_model=Ticket)
def complete_ticket(ticket_id: str, conn: Db) -> dict[str, Any]:
    return move(conn, ticket_id, "completed", {})


@app.post("/api/v1/tickets/{ticket_id}/fail", response_model=Ticket)
def fail_ticket(ticket_id: str, body: Annotated[FailTicket, Body()], conn: Db) -> dict[str, Any]:
    return move(conn, ticket_id, "failed", {"error": body.error})


@app.get("/api/v1/tickets/{ticket_id}/history", response_model=TicketHistory)
def ticket_history(ticket_id: str, conn: Db) -> dict[str, Any]:
    with read_transaction(conn):
        find(conn, ticket_id)
        rows = conn.execute(
            "SELECT id, event_type, timestamp, data FROM audit_events"
            " WHERE ticket_id = ? ORDER BY id",
            (ticket_id,),
        ).fetchall()
    entries = []
    state: str | dict[str, dict[str, Any]] = "pending"
    for row in rows:
        event = event_from_row(row)
        data = event["data"]
        if event["event_type"] == "ticket_cancelled":
            cancelled = {"cancelled_by": data["cancelled_by"], "reason": data["reason"]}
            state = {"cancelled": {**cancelled, "cancelled_at": event["timestamp"]}}
        elif event["event_type"] == "ticket_state_changed":
            state = data["state"]
        entries.append({"event": event, "state": state})
    return {"ticket_id": ticket_id, "entries": entries}


@app.get("/api/v1/audit", response_model=AuditPage)
def list_audit_events(
    conn: Db,
    event_type: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    where, params = (" WHERE event_type = ?", [event_type]) if event_type else ("", [])
    with read_transaction(conn):
        rows = conn.execute(
            f"SELECT id, event_type, timestamp, data FROM audit_events{where}"
            " ORDER BY timestamp, id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        total = conn.execute(
            f"SELECT coalesce(sum(events), 0) FROM audit_counts{where}", params
        ).fetchone()[0]
    return {
        "events": [event_from_row(row) for row in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }
