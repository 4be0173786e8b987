"""The names torrentino itself acts under in the audit log. Keys, identity, start-up and
backups all use them, and no API key may take one."""

from __future__ import annotations

ANONYMOUS_NAME = "anonymous"  # a caller without a key, in open mode
SYSTEM_ACTOR = "system"  # the service: start-up, scheduled backups
CLI_ACTOR = "admin-cli"  # the command line on the server (`make keys`, `make restore`)
INVOKE_ACTOR = "admin-invoke"  # the `keys` Lambda function (chalicelib/api/key_commands.py)
RESERVED_NAMES = frozenset({ANONYMOUS_NAME, SYSTEM_ACTOR, CLI_ACTOR, INVOKE_ACTOR})
