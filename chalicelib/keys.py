"""API keys: create, list and revoke them, from the command line.

    python -m chalicelib.keys create alice --role admin   # prints the key, once
    python -m chalicelib.keys list
    python -m chalicelib.keys revoke <key id>

The database is `TORRENTINO_DB_PATH` (or the default); `--db PATH` overrides it.
Only a SHA-256 hash of each key is stored.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from chalicelib import db, settings, upgrade
from chalicelib.actors import CLI_ACTOR, SYSTEM_ACTOR
from chalicelib.audit.events import AuditEventType, record
from chalicelib.cli import command_parser
from chalicelib.errors import InvalidInput, KeyNotFound, TorrentinoError
from chalicelib.identity import ANONYMOUS_NAME, Role, hash_key, new_key
from chalicelib.timestamps import Timestamp, format_timestamp, utc_now

INVOKE_ACTOR = "admin-invoke"  # the `keys` Lambda function (chalicelib/api/key_commands.py)
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_RESERVED_NAMES = {ANONYMOUS_NAME, SYSTEM_ACTOR, CLI_ACTOR, INVOKE_ACTOR}


class ApiKeyInfo(BaseModel):
    """What may be shown about a key: everything but its secret."""

    model_config = ConfigDict(frozen=True)

    id: str
    user: str
    role: Role
    created_at: Timestamp
    revoked_at: Timestamp | None = None


def _check_user_name(user: str) -> None:
    if not _USER_NAME.fullmatch(user):
        raise InvalidInput(
            "a user name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a "
            "letter or digit",
            field="user",
        )
    if user in _RESERVED_NAMES:
        raise InvalidInput(f"{user!r} is a reserved name", field="user")


def create_key(
    path: Path, user: str, role: Role, *, actor: str = CLI_ACTOR
) -> tuple[ApiKeyInfo, str]:
    """Store a new key for `user`; return its description and the key itself (shown once)."""
    _check_user_name(user)
    key_id, key = new_key()
    upgrade.upgrade(path, create=True)  # an older schema is backed up first
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
    upgrade.upgrade(path, create=True)  # an older schema is backed up first
    with db.connect(path) as conn:
        rows = conn.execute(
            "SELECT id, user, role, created_at, revoked_at FROM api_keys ORDER BY created_at, id"
        ).fetchall()
    return [ApiKeyInfo.model_validate(dict(row)) for row in rows]


def revoke_key(path: Path, key_id: str, *, actor: str = CLI_ACTOR) -> ApiKeyInfo:
    """Revoke a key at once; raises `KeyNotFound`. Revoking twice keeps the first time."""
    upgrade.upgrade(path, create=True)  # an older schema is backed up first
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


def _parser() -> argparse.ArgumentParser:
    parser = command_parser("keys", __doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it once")
    create.add_argument("user")
    create.add_argument("--role", choices=[r.value for r in Role], default=Role.USER.value)
    commands.add_parser("list", help="list keys (never their secrets)")
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the key command line; return the exit status."""
    args = _parser().parse_args(argv)
    path: Path = args.db or settings.db_path()
    try:
        if args.command == "create":
            info, key = create_key(path, args.user, Role(args.role))
            print(f"created key {info.id} for {info.user} ({info.role.value}).")
            print("The key is shown only now; store it safely:")
            print(key)
        elif args.command == "list":
            keys = list_keys(path)
            if not keys:
                print("no API keys: the service answers only this machine, without a key")
            for info in keys:
                revoked = (
                    f"revoked {format_timestamp(info.revoked_at)}" if info.revoked_at else "active"
                )
                print(
                    f"{info.id}  {info.user:<24} {info.role.value:<5}  "
                    f"created {format_timestamp(info.created_at)}  {revoked}"
                )
        else:
            info = revoke_key(path, args.key_id)
            print(f"revoked key {info.id} of {info.user}")
    except TorrentinoError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
