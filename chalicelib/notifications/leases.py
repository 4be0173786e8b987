"""Which delivery run works on which target: a lease, taken with `BEGIN IMMEDIATE`, so that
of several processes or Lambda containers delivering at once only one sends to a target.

A lease runs out after `LEASE_SECONDS` (each delivered event renews it); a run that stalls
longer, or dies, leaves its lease to run out, and the next run sends the event it was
working on again (with the same webhook-id). A server started again on the same machine
need not wait: the leases of its dead predecessors are free at once.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta

from chalicelib.storage import db
from chalicelib.timestamps import format_timestamp

LEASE_SECONDS = 120.0


def _marks(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join("?" * len(values)) or "NULL"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_leases(conn: sqlite3.Connection, worker: str, now: str) -> tuple[str, ...]:
    """Leases held by processes of this machine that are gone. Only for a `worker` named
    `host:pid`, whose processes share one machine's process ids (never a Lambda's)."""
    host, _, pid = worker.rpartition(":")
    if not host or not pid.isdigit():
        return ()
    rows = conn.execute(
        "SELECT DISTINCT lease_owner FROM notification_targets WHERE lease_until > ?", (now,)
    ).fetchall()
    stale = []
    for (owner,) in rows:
        owner_host, _, owner_pid = str(owner).partition("/")[0].rpartition(":")
        if owner_host == host and owner_pid.isdigit() and not _alive(int(owner_pid)):
            stale.append(str(owner))
    return tuple(stale)


def _free(stale: tuple[str, ...]) -> str:
    return f"(lease_until IS NULL OR lease_until <= ? OR lease_owner IN ({_marks(stale)}))"


def due_targets(conn: sqlite3.Connection, now: str, stale: tuple[str, ...]) -> list[str]:
    """Active targets with events after their cursor, no retry waiting, and no lease held."""
    rows = conn.execute(
        "SELECT id FROM notification_targets WHERE paused_at IS NULL"
        " AND cursor < (SELECT coalesce(max(id), 0) FROM audit_events)"
        f" AND (next_attempt_at IS NULL OR next_attempt_at <= ?) AND {_free(stale)}",
        (now, now, *stale),
    ).fetchall()
    return [row[0] for row in rows]


def claim(
    conn: sqlite3.Connection, ids: list[str], token: str, at: datetime, stale: tuple[str, ...]
) -> list[str]:
    """Lease the targets of `ids` still free to the run `token`; the ones it got."""
    now = format_timestamp(at)
    until = format_timestamp(at + timedelta(seconds=LEASE_SECONDS))
    with db.transaction(conn):
        conn.execute(
            "UPDATE notification_targets SET lease_owner = ?, lease_until = ?"
            f" WHERE id IN ({_marks(ids)}) AND paused_at IS NULL"
            f" AND (next_attempt_at IS NULL OR next_attempt_at <= ?) AND {_free(stale)}",
            (token, until, *ids, now, now, *stale),
        )
        rows = conn.execute(
            "SELECT id FROM notification_targets WHERE lease_owner = ?", (token,)
        ).fetchall()
    return [row[0] for row in rows]


def release(conn: sqlite3.Connection, target_id: str, token: str) -> None:
    """Give a target's lease back, if the run `token` still holds it."""
    with db.transaction(conn):
        conn.execute(
            "UPDATE notification_targets SET lease_owner = NULL, lease_until = NULL"
            " WHERE id = ? AND lease_owner = ?",
            (target_id, token),
        )
