"""A restore never widens access: the restored database's API keys are squared with the
live database's (the one it replaces) before it takes its place.

The live database says who may get in now, so:

* a key it has revoked stays revoked;
* a key it has that the backup has not (created after the backup was taken) is carried
  over as it is there, active or revoked: a server that had keys never comes back in open
  mode, even from a backup taken before its first key;
* a key of the backup's that it does not have, or has with another secret, user, role or
  creation time, is revoked: it is no key of this server's (a planted one, say).

Each change is an audit event in the restored database (`api_key_created` carrying the
key's `created_at`, `api_key_revoked` its `revoked_at` or a `reason`), so the consistency
check explains the keys afterwards as before.

When the live database has no key (a new installation, or one that never made a key),
is missing, or its keys cannot be read, there is nothing to compare with: the backup's
keys come back as they were, and the restore lists them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from chalicelib.audit.events import AuditEventType, record
from chalicelib.errors import TorrentinoError
from chalicelib.storage import db
from chalicelib.timestamps import format_timestamp

_COLUMNS = "id, user, role, secret_hash, created_at, revoked_at"
NOT_LIVE = "not in the live database"
DIFFERS = "differs from the live database's key with this id"
REVOKED_LIVE = "as in the live database"


@dataclass(frozen=True)
class KeyRow:
    """One row of `api_keys`."""

    id: str
    user: str
    role: str
    secret_hash: str
    created_at: str
    revoked_at: str | None

    def same_key(self, other: KeyRow) -> bool:
        """Whether both rows are the one key: same secret, user, role and creation."""
        mine = (self.user, self.role, self.secret_hash, self.created_at)
        return mine == (other.user, other.role, other.secret_hash, other.created_at)

    def shown(self) -> str:
        """The key for people: its id, user and role (never its hash)."""
        return f"{self.id} {self.user} ({self.role})"


@dataclass
class KeyChanges:
    """What a restore did to the keys."""

    live: str  # "read", or why the live database's keys were not compared
    kept: int = 0
    carried_over: list[KeyRow] = field(default_factory=list)
    revoked: list[tuple[KeyRow, str]] = field(default_factory=list)
    unchecked: list[KeyRow] = field(default_factory=list)
    open_mode: bool = False

    def summary(self) -> dict[str, Any]:
        """The changes, for the `backup_restored` event."""
        return {
            "live_keys": self.live,
            "kept": self.kept,
            "carried_over": [key.id for key in self.carried_over],
            "revoked": [key.id for key, _ in self.revoked],
            "unchecked": [key.id for key in self.unchecked],
        }

    def lines(self) -> list[str]:
        """The changes, for people (`make restore` prints them)."""
        said = [f"keys: {self.kept} as in the live database"] if self.kept else []
        said += [
            f"keys: carried over from the live database: {key.shown()}, "
            + ("revoked" if key.revoked_at else "active")
            for key in self.carried_over
        ]
        said += [f"keys: revoked, {reason}: {key.shown()}" for key, reason in self.revoked]
        if self.unchecked:
            said.append(
                f"keys: the live database had none to compare with ({self.live}), so the "
                "backup's keys are as they were; revoke any you do not know "
                '(make keys ARGS="revoke <id>"):'
            )
            said += [f"  {key.shown()}" for key in self.unchecked]
        if self.open_mode:
            said.append(
                "keys: none; until one is created the server answers this machine only, "
                "without a key (open mode)"
            )
        return said


def _rows(conn: sqlite3.Connection) -> dict[str, KeyRow]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, id")
    return {row["id"]: KeyRow(*row) for row in rows}


def live_keys(db_path: Path) -> tuple[dict[str, KeyRow], str]:
    """The live database's keys, and "read" (or why there are none to compare with)."""
    if not db_path.exists():
        return {}, "it is missing"
    try:
        # The service's own file, opened as a request opens it (not read-only: the last
        # connection to close folds the WAL in, so only the database file moves aside).
        with db.connect(db_path) as conn:
            kind = conn.execute("SELECT type FROM sqlite_master WHERE name = 'api_keys'")
            if (kind.fetchone() or [None])[0] != "table":
                return {}, "it has no api_keys table"
            keys = _rows(conn)
    except (sqlite3.Error, TorrentinoError) as error:
        return {}, f"its keys cannot be read: {error}"
    return keys, "read" if keys else "it has no key"


def square_keys(
    conn: sqlite3.Connection,
    live: tuple[dict[str, KeyRow], str],
    *,
    previous: str | None,
    actor: str,
    at: datetime,
) -> KeyChanges:
    """Square the keys of the restored database `conn` (inside its write transaction)
    with the live database's keys, `previous` being the name the live one is kept under."""
    live_rows, state = live
    restored = _rows(conn)
    changes = KeyChanges(live=state)
    active = [key for key in restored.values() if key.revoked_at is None]
    if not live_rows:
        changes.unchecked = active
    for key in active if live_rows else []:
        current = live_rows.get(key.id)
        if current is None or not current.same_key(key):
            _revoke(conn, key, {"reason": NOT_LIVE if current is None else DIFFERS}, actor, at)
            changes.revoked.append((key, NOT_LIVE if current is None else DIFFERS))
        elif current.revoked_at is not None:
            carried = {"revoked_at": current.revoked_at, "carried_over_from": previous}
            _revoke(conn, key, carried, actor, at, revoked_at=current.revoked_at)
            changes.revoked.append((key, REVOKED_LIVE))
        else:
            changes.kept += 1
    for key in live_rows.values():
        if key.id not in restored:
            _carry_over(conn, key, previous, actor, at)
            changes.carried_over.append(key)
    changes.open_mode = not restored and not changes.carried_over
    return changes


def _revoke(
    conn: sqlite3.Connection,
    key: KeyRow,
    data: dict[str, Any],
    actor: str,
    at: datetime,
    *,
    revoked_at: str | None = None,
) -> None:
    stamp = revoked_at or format_timestamp(at)
    conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (stamp, key.id))
    event = {"key_id": key.id, "user": key.user, **data}
    record(conn, AuditEventType.API_KEY_REVOKED, event, actor=actor, at=at)


def _carry_over(
    conn: sqlite3.Connection, key: KeyRow, previous: str | None, actor: str, at: datetime
) -> None:
    conn.execute(
        f"INSERT INTO api_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        (key.id, key.user, key.role, key.secret_hash, key.created_at, key.revoked_at),
    )
    data = {"key_id": key.id, "user": key.user, "role": key.role, "created_at": key.created_at}
    record(
        conn,
        AuditEventType.API_KEY_CREATED,
        {**data, "carried_over_from": previous},
        actor=actor,
        at=at,
    )
    if key.revoked_at is not None:
        carried = {"key_id": key.id, "user": key.user, "revoked_at": key.revoked_at}
        record(
            conn,
            AuditEventType.API_KEY_REVOKED,
            {**carried, "carried_over_from": previous},
            actor=actor,
            at=at,
        )
