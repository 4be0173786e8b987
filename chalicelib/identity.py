"""Who is making a request, and what they may do. Resolved in one place: `resolve_identity`.

While no API key has ever been created the service is open to this machine: a caller
over loopback is `anonymous` with full rights, any other caller gets 401 saying how to
create the first key (unless `TORRENTINO_OPEN_TO_NETWORK` opens it to the network too).
Once a key exists, every request must carry a valid one, as `Authorization: Bearer
<key>` or `X-Api-Key: <key>`, from wherever it comes.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import sqlite3
from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from chalicelib import settings
from chalicelib.errors import Forbidden, Unauthenticated

ANONYMOUS_NAME = "anonymous"
KEY_PREFIX = "trn"
FIRST_KEY_NEEDED = (
    "no API key exists yet, so the service answers only this machine; "
    'create the first key on the server with: make keys ARGS="create <name> --role admin"'
)
# trn_<12 hex: key id>_<43 url-safe chars: 256 random bits>
_KEY_PATTERN = re.compile(r"trn_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


class Role(StrEnum):
    """What a key's holder may do."""

    USER = "user"
    ADMIN = "admin"


class Identity(BaseModel):
    """The caller, as recorded in `created_by`, `cancelled_by` and audit events."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        """Whether the caller may do everything."""
        return self.role is Role.ADMIN

    def require_admin(self, action: str) -> None:
        """Raise `Forbidden` unless the caller is an admin."""
        if not self.is_admin:
            raise Forbidden(f"only an admin may {action}")

    def owner_filter(self) -> str | None:
        """The creator whose tickets this caller may change, or None for any."""
        return None if self.is_admin else self.name


ANONYMOUS = Identity(name=ANONYMOUS_NAME, role=Role.ADMIN)


def new_key() -> tuple[str, str]:
    """A fresh (key id, whole key) pair; the whole key is shown once and never stored."""
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    """What the database keeps of a key. Keys carry 256 random bits, so one SHA-256 suffices."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# Compared against when a key id is unknown, so both paths do the same work.
_NO_SUCH_KEY_HASH = hash_key("no such key")


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents, if any; raises `Unauthenticated` for a malformed header."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <API key>'")
        return token.strip()
    api_key = headers.get("x-api-key")
    if api_key is not None:
        return api_key.strip()
    return None


def is_this_machine(source_ip: str | None) -> bool:
    """Whether a request's source address is loopback (127.0.0.0/8, ::1): this machine."""
    try:
        address = ipaddress.ip_address(source_ip or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def resolve_identity(
    conn: sqlite3.Connection, headers: Mapping[str, str], source_ip: str | None
) -> Identity:
    """The identity behind a request's headers and source address.

    Raises `Unauthenticated` when keys exist and the request has no valid one, or when
    none exists yet and the request comes from another machine. The answer never says
    whether a key id exists or was revoked.
    """
    if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM api_keys)").fetchone()[0]:
        if is_this_machine(source_ip) or settings.open_to_network():
            return ANONYMOUS
        raise Unauthenticated(FIRST_KEY_NEEDED)
    key = presented_key(headers)
    if key is None:
        raise Unauthenticated(
            "an API key is required: send 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'"
        )
    match = _KEY_PATTERN.fullmatch(key)
    row = None
    if match is not None:
        row = conn.execute(
            "SELECT user, role, secret_hash, revoked_at FROM api_keys WHERE id = ?",
            (match.group(1),),
        ).fetchone()
    expected = row["secret_hash"] if row is not None else _NO_SUCH_KEY_HASH
    matches = hmac.compare_digest(expected, hash_key(key))
    if row is None or not matches or row["revoked_at"] is not None:
        raise Unauthenticated("invalid or revoked API key")
    return Identity(name=row["user"], role=Role(row["role"]))
