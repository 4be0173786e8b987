"""Who is making a request, and what they may do. Resolved in one place: `resolve_identity`.

While no API key has ever been created the service is open to this machine: a caller
over loopback is `anonymous` with full rights, any other caller gets 401 saying how to
create the first key (unless `TORRENTINO_OPEN_TO_NETWORK` opens it to the network too).
Once a key exists, every request must carry a valid one, as `Authorization: Bearer
<key>` or `X-Api-Key: <key>`, from wherever it comes.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re
import secrets
import sqlite3
from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from chalicelib import settings
from chalicelib.actors import ANONYMOUS_NAME
from chalicelib.errors import Forbidden, Unauthenticated

KEY_PREFIX = "trn"
FIRST_KEY_NEEDED = (
    "no API key exists yet, so the service answers only this machine, by the name "
    "localhost or a loopback address; create the first key on the server with: "
    'make keys ARGS="create <name> --role admin" (on AWS Lambda: invoke the keys '
    "function, see docs/deploy.md)"
)
# trn_<12 hex: key id>_<43 url-safe chars: 256 random bits>
_KEY_PATTERN = re.compile(r"trn_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
# Anything shaped like a key, wherever it stands in a text, its secret however long.
_KEY_IN_TEXT = re.compile(r"trn_([0-9a-f]{12})_[A-Za-z0-9_-]+")


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


def without_keys(text: str) -> str:
    """`text` with the secret of anything shaped like an API key left out: for a log line
    that repeats what a client sent (a key in a path, say). The key id stays: it is public."""
    return _KEY_IN_TEXT.sub(rf"{KEY_PREFIX}_\1_(secret not logged)", text)


# Both are asked on every keyless request, mostly about the same few names and addresses:
# the answers are kept (for a bounded number of them; a Host header is the client's to choose).
@functools.lru_cache(maxsize=256)
def names_this_machine(host: str | None) -> bool:
    """Whether a request's Host header names this machine: `localhost` (or a name under
    it), or a loopback address, with any port; no Host at all counts too (HTTP/1.0).

    A web page can rebind its own name to 127.0.0.1 (DNS rebinding) and so reach the
    service from this machine's browser, but its requests still carry its own name.
    """
    if host is None:
        return True
    name = host.strip().lower()
    if name.startswith("["):  # [::1]:8080
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    return is_this_machine(name)


@functools.lru_cache(maxsize=256)
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
    conn: sqlite3.Connection,
    headers: Mapping[str, str],
    source_ip: str | None,
    host: str | None = None,
) -> Identity:
    """The identity behind a request's headers and source address (the client's, behind
    a trusted proxy; None when not known) and the host it named (the `Host` header's
    unless a trusted proxy says which the client used).

    Raises `Unauthenticated` when keys exist and the request has no valid one, or when
    none exists yet and the request comes from another machine, or names this machine
    by another name (a rebound DNS name). The answer never says whether a key id exists
    or was revoked.
    """
    if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM api_keys)").fetchone()[0]:
        if settings.open_to_network():
            return ANONYMOUS
        named = host if host is not None else headers.get("host")
        if is_this_machine(source_ip) and names_this_machine(named):
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


class WhoAmI(BaseModel):
    """The answer of `GET /api/v1/me`."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [{"name": "alice", "role": "admin", "open_mode": False}]},
    )

    name: str = Field(description="The name recorded as created_by, cancelled_by and actor.")
    role: Role = Field(description="user: files tickets and cancels its own; admin: everything.")
    open_mode: bool = Field(
        description="No API key exists yet: every caller on this machine is the anonymous admin."
    )


def who_am_i(identity: Identity) -> WhoAmI:
    """Describe the caller."""
    # Only open mode resolves to the anonymous identity: no key may be made for that name.
    return WhoAmI(name=identity.name, role=identity.role, open_mode=identity == ANONYMOUS)
