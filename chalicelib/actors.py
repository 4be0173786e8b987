"""The names torrentino itself acts under in the audit log. Keys, identity, start-up and
backups all use them, and no API key may take one, in any spelling that reads the same."""

from __future__ import annotations

import unicodedata

ANONYMOUS_NAME = "anonymous"  # a caller without a key, in open mode
SYSTEM_ACTOR = "system"  # the service: start-up, scheduled backups
CLI_ACTOR = "admin-cli"  # the command line on the server (`make keys`, `make restore`)
INVOKE_ACTOR = "admin-invoke"  # the `keys` Lambda function (chalicelib/api/key_commands.py)
NOTIFIER_ACTOR = "notifier"  # notification delivery: giving up an event, pausing a target
RESERVED_NAMES = frozenset({ANONYMOUS_NAME, SYSTEM_ACTOR, CLI_ACTOR, INVOKE_ACTOR, NOTIFIER_ACTOR})


def as_read(name: str) -> str:
    """`name` as a person reads it: Unicode's compatibility caseless form (case folded,
    compatibility forms such as fullwidth letters and ligatures folded, as in the Unicode
    Standard's D146), invisible format characters (zero-width spaces, soft hyphens) left
    out, and every dash, underscore and dot read as one hyphen."""
    folded = unicodedata.normalize("NFD", name).casefold()
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", folded).casefold())
    read = []
    for char in unicodedata.normalize("NFC", folded):
        category = unicodedata.category(char)
        if category != "Cf":
            read.append("-" if category in ("Pd", "Pc") or char == "." else char)
    return "".join(read)


_RESERVED_AS_READ = {as_read(name): name for name in RESERVED_NAMES}


def reserved_name_like(name: str) -> str | None:
    """The service's own actor name that `name` reads as (`Anonymous`, `ADMIN_CLI`, `system`
    in fullwidth letters), or None when it reads as none of them."""
    return _RESERVED_AS_READ.get(as_read(name))
