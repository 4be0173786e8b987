"""Bulk loader: a database of N tickets (and their `ticket_created` events, optionally their
whole histories) in seconds.

The schema and indexes are the service's own (`chalicelib.migrations.migrate`); only the load
itself skips what a bulk build does not need: it runs with the rollback journal off and
`synchronous = OFF` in one transaction (a crash mid-load just means building again),
then puts the file back into WAL mode exactly as the service expects it.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chalicelib.audit.events import encode_data
from chalicelib.storage import migrations
from chalicelib.tickets.states import Cancelled, Completed, Failed, Pending, encode_state
from chalicelib.timestamps import format_timestamp

# What a queue looks like after years: most tickets done, a tenth still waiting.
STATE_WEIGHTS = {"pending": 10, "completed": 70, "cancelled": 15, "failed": 5}
PRIORITIES = (0, 50, 100, 100, 100, 200, 1000)
TAGS = ("music", "flac", "album", "movie", "1080p", "series", "ebook", "podcast")
BATCH = 20_000


STATE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
_FAILED = Failed(error="no source found", failed_at=STATE_TIME)


def _states() -> dict[str, str]:
    at = STATE_TIME
    return {
        "pending": encode_state(Pending()),
        "completed": encode_state(Completed(completed_at=at)),
        "cancelled": encode_state(
            Cancelled(cancelled_by="anonymous", reason=None, cancelled_at=at)
        ),
        "failed": encode_state(_FAILED),
    }


def _change_event(kind: str, ticket_id: str) -> tuple[object, ...]:
    """The event that moved a ticket from pending to `kind`, as the store writes it."""
    at = format_timestamp(STATE_TIME)
    if kind == "cancelled":
        data: dict[str, object] = {
            "ticket_id": ticket_id,
            "cancelled_by": "anonymous",
            "reason": None,
            "previous_state": "pending",
        }
        return ("ticket_cancelled", at, ticket_id, "anonymous", encode_data(data))
    new = Completed(completed_at=STATE_TIME) if kind == "completed" else _FAILED
    data = {"ticket_id": ticket_id, "from": "pending", "to": kind, "actor": "worker"}
    data["state"] = new.model_dump(mode="json")
    return ("ticket_state_changed", at, ticket_id, "worker", encode_data(data))


def _rows(
    count: int, seed: int, state_weights: dict[str, int], histories: bool, description_chars: int
) -> Iterator[tuple[tuple[object, ...], list[tuple[object, ...]]]]:
    rng = random.Random(seed)
    states = _states()
    kinds = list(state_weights)
    weights = list(state_weights.values())
    start = datetime(2022, 1, 1, tzinfo=UTC)
    step = timedelta(seconds=max(1, 4 * 365 * 86400 // max(count, 1)))
    for n in range(count):
        ticket_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        stamp = format_timestamp(start + n * step)
        priority = rng.choice(PRIORITIES)
        description = f"bulk ticket {n}".ljust(description_chars, ".")
        context = {"tags": rng.sample(TAGS, 2), "description": description}
        dest_path = f"/media/bulk/{n % 1000}"
        kind = rng.choices(kinds, weights)[0]
        ticket = (
            ticket_id,
            stamp,
            "anonymous",
            states[kind],
            priority,
            json.dumps(context, ensure_ascii=False),
            dest_path,
            stamp,
        )
        event = (
            "ticket_created",
            stamp,
            ticket_id,
            "anonymous",
            encode_data(
                {
                    "ticket_id": ticket_id,
                    "created_by": "anonymous",
                    "priority": priority,
                    "query_context": context,
                    "dest_path": dest_path,
                }
            ),
        )
        changes = [_change_event(kind, ticket_id)] if histories and kind != "pending" else []
        yield ticket, [event, *changes]


def build(
    path: Path,
    count: int,
    *,
    seed: int = 6,
    states: dict[str, int] | None = None,
    histories: bool = False,
    description_chars: int = 0,
) -> float:
    """Create `path` with `count` tickets and their events; return the seconds it took.

    `states` weighs the tickets' states (default `STATE_WEIGHTS`). Each ticket gets its
    `ticket_created` event; with `histories`, a ticket that is no longer pending also
    gets the event that moved it, so the database passes the consistency check.
    `description_chars` pads each description to that length (at most 10,000), for a
    database of many bytes but few tickets.
    """
    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    migrations.migrate(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB, for the loader only
        conn.execute("BEGIN")
        rows = _rows(count, seed, states or STATE_WEIGHTS, histories, description_chars)
        while True:
            batch = [row for _, row in zip(range(BATCH), rows, strict=False)]
            if not batch:
                break
            conn.executemany(
                "INSERT INTO tickets (id, created_at, created_by, state, priority,"
                " query_context, dest_path, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [ticket for ticket, _ in batch],
            )
            conn.executemany(
                "INSERT INTO audit_events (event_type, timestamp, ticket_id, actor, data)"
                " VALUES (?, ?, ?, ?, ?)",
                [event for _, events in batch for event in events],
            )
        # Tag search's rows, as a create writes them (the consistency check holds them to
        # each ticket's tags).
        conn.execute(
            "INSERT OR IGNORE INTO ticket_tags (tag, ticket_id) SELECT json_each.value, tickets.id"
            " FROM tickets, json_each(tickets.query_context, '$.tags')"
        )
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    return time.perf_counter() - started
