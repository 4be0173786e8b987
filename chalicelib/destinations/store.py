"""Destinations on SQLite: adding, listing and removing them (each with its audit event), and
the rule they make: while at least one exists, a ticket's `dest_path` must be inside one."""

from __future__ import annotations

import json
import sqlite3
import unicodedata
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chalicelib.audit.events import AuditEventType, record
from chalicelib.destinations.paths import first_root_holding, normalise
from chalicelib.errors import DestinationNotFound, DestinationTaken, InvalidInput
from chalicelib.storage import db
from chalicelib.tickets.model import MAX_TAGS, DestPath, Tag
from chalicelib.timestamps import Timestamp, format_timestamp, utc_now

MAX_NAME_CHARS = 64
MAX_DESTINATIONS = 100


def _root(path: str) -> str:
    root = normalise(path)
    if root == "/":
        raise ValueError("root must be a folder below '/', not '/' itself")
    return root


def _name(text: str) -> str:
    name = " ".join(text.split())
    if not name:
        raise ValueError("name must not be blank")
    # Names are printed as they are (`make destinations ARGS=list`, a terminal): no escapes.
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise ValueError("name must not contain control characters")
    return name


class CreateDestinationRequest(BaseModel):
    """The body of `POST /api/v1/destinations`."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Movies", "root": "/media/movies", "tags": ["movie"]}]
        },
    )

    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(_name)]
    root: Annotated[DestPath, AfterValidator(_root)]
    tags: Annotated[list[Tag], Field(max_length=MAX_TAGS)] = []


class Destination(BaseModel):
    """A folder tickets may go to: its name, its root, the tags a request there starts with."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    root: str
    tags: list[str]
    created_at: Timestamp


class DestinationList(BaseModel):
    """Every destination, by name."""

    destinations: list[Destination]


def _row_to_destination(row: sqlite3.Row) -> Destination:
    return Destination.model_validate({**dict(row), "tags": json.loads(row["tags"])})


def list_destinations(conn: sqlite3.Connection) -> list[Destination]:
    """Every destination, ordered by name."""
    rows = conn.execute(
        "SELECT id, name, root, tags, created_at FROM destinations ORDER BY name COLLATE NOCASE, id"
    ).fetchall()
    return [_row_to_destination(row) for row in rows]


def add_destination(
    conn: sqlite3.Connection, request: CreateDestinationRequest, *, actor: str
) -> Destination:
    """Add a destination with its `destination_added` event. Raises `DestinationTaken` when
    its name or root is taken (names compared without case), `InvalidInput` when there are
    too many."""
    with db.transaction(conn):
        taken = list_destinations(conn)
        for other in taken:
            if other.name.casefold() == request.name.casefold():
                raise DestinationTaken(f"a destination named {other.name!r} exists", field="name")
            if other.root == request.root:
                raise DestinationTaken(
                    f"{other.name!r} already has root {other.root}", field="root"
                )
        if len(taken) >= MAX_DESTINATIONS:
            raise InvalidInput(f"there are already {MAX_DESTINATIONS} destinations")
        now = utc_now()
        destination = Destination(
            id=str(uuid.uuid4()),
            name=request.name,
            root=request.root,
            tags=request.tags,
            created_at=now,
        )
        conn.execute(
            "INSERT INTO destinations (id, name, root, tags, created_at) VALUES (?, ?, ?, ?, ?)",
            (
                destination.id,
                destination.name,
                destination.root,
                json.dumps(destination.tags, ensure_ascii=False),
                format_timestamp(now),
            ),
        )
        data = destination.model_dump(mode="json", exclude={"created_at"})
        record(conn, AuditEventType.DESTINATION_ADDED, data, actor=actor, at=now)
        return destination


def remove_destination(conn: sqlite3.Connection, destination_id: str, *, actor: str) -> Destination:
    """Remove a destination with its `destination_removed` event; the tickets already filed
    into it keep their paths. Raises `DestinationNotFound`."""
    with db.transaction(conn):
        row = conn.execute(
            "SELECT id, name, root, tags, created_at FROM destinations WHERE id = ?",
            (destination_id,),
        ).fetchone()
        if row is None:
            raise DestinationNotFound(destination_id)
        destination = _row_to_destination(row)
        conn.execute("DELETE FROM destinations WHERE id = ?", (destination.id,))
        data = {"id": destination.id, "name": destination.name, "root": destination.root}
        record(conn, AuditEventType.DESTINATION_REMOVED, data, actor=actor, at=utc_now())
        return destination


def require_inside(conn: sqlite3.Connection, dest_path: str) -> None:
    """Raise `InvalidInput` (naming the destinations) unless `dest_path` is inside one of
    them; with no destination defined, every valid path is allowed. Call it inside the
    transaction that writes the path."""
    rows = conn.execute(
        "SELECT name, root FROM destinations ORDER BY name COLLATE NOCASE"
    ).fetchall()
    if not rows:
        return
    if first_root_holding(dest_path, [row["root"] for row in rows]) is None:
        allowed = ", ".join(f"{row['name']} ({row['root']})" for row in rows)
        raise InvalidInput(
            f"dest_path must be inside one of the destinations: {allowed}", field="dest_path"
        )
