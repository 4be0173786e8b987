"""API keys: create, list and revoke them (`make keys`, the `keys` Lambda function, and
the command line in `chalicelib.cli` call these). Only a SHA-256 hash of each key is stored.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from chalicelib.actors import CLI_ACTOR, reserved_name_like
from chalicelib.audit.events import AuditEventType, record
from chalicelib.errors import InvalidInput, KeyNotFound
from chalicelib.keys.identity import Role, hash_key, new_key
from chalicelib.storage import db, migrations
from chalicelib.timestamps import Timestamp, format_timestamp, utc_now

_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class ApiKeyInfo(BaseModel):
    """What may be shown about a key: everything but its secret."""

    model_config = ConfigDict(frozen=True)

    id: str
    user: str
    role: Role
    created_at: Timestamp
    revoked_at: Timestamp | None = None


class CreateKeyRequest(BaseModel):
    """The body of `POST /api/v1/keys`."""

    model_config = ConfigDict(
        strict=True, extra="forbid", json_schema_extra={"examples": [{"user": "alice"}]}
    )

    user: str
    role: Role = Role.USER


class CreatedKey(ApiKeyInfo):
    """A new key: its description, and the key itself, shown this once."""

    key: str


class KeyList(BaseModel):
    """Every API key, oldest first, without secrets."""

    keys: list[ApiKeyInfo]


def _check_user_name(user: str) -> None:
    # Reserved first, so that a fullwidth or otherwise disguised spelling is named as such.
    if (reserved := reserved_name_like(user)) is not None:
        reads_as = "" if user == reserved else f" (it reads as {reserved!r})"
        raise InvalidInput(f"{user!r} is a reserved name{reads_as}", field="user")
    if not _USER_NAME.fullmatch(user):
        raise InvalidInput(
            "a user name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a "
            "letter or digit",
            field="user",
        )


def create_key(
    path: Path, user: str, role: Role, *, actor: str = CLI_ACTOR
) -> tuple[ApiKeyInfo, str]:
    """Store a new key for `user`; return its description and the key itself (shown once)."""
    _check_user_name(user)
    key_id, key = new_key()
    migrations.migrate(path)
    with db.connect(path) as conn, db.transaction(conn):
        now = utc_now()
        conn.execute(
            "INSERT INTO api_keys (id, user, role, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)",
            (key_id, user, role.value, hash_key(key), format_timestamp(now)),
        )
        record(
            conn,
            AuditEventType.API_KEY_CREATED,
            {"key_id": key_id, "user": user, "role": role.value},
            actor=actor,
            at=now,
        )
    return ApiKeyInfo(id=key_id, user=user, role=role, created_at=now), key


def list_keys(path: Path) -> list[ApiKeyInfo]:
    """Every key, oldest first, without secrets."""
    migrations.migrate(path)
    with db.connect(path) as conn:
        rows = conn.execute(
            "SELECT id, user, role, created_at, revoked_at FROM api_keys ORDER BY created_at, id"
        ).fetchall()
    return [ApiKeyInfo.model_validate(dict(row)) for row in rows]


def revoke_key(path: Path, key_id: str, *, actor: str = CLI_ACTOR) -> ApiKeyInfo:
    """Revoke a key at once; raises `KeyNotFound`. Revoking twice keeps the first time."""
    migrations.migrate(path)
    with db.connect(path) as conn, db.transaction(conn):
        now = utc_now()
        row = conn.execute(
            "SELECT id, user, role, created_at, revoked_at FROM api_keys WHERE id = ?", (key_id,)
        ).fetchone()
        if row is None:
            raise KeyNotFound(key_id)
        if row["revoked_at"] is None:
            conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ?", (format_timestamp(now), key_id)
            )
            record(
                conn,
                AuditEventType.API_KEY_REVOKED,
                {"key_id": key_id, "user": row["user"]},
                actor=actor,
                at=now,
            )
            return ApiKeyInfo.model_validate({**dict(row), "revoked_at": now})
    return ApiKeyInfo.model_validate(dict(row))
