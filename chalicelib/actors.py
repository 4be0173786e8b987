"""The names the audit log records for what torrentino does by itself, not for a caller."""

from __future__ import annotations

SYSTEM_ACTOR = "system"  # the service: start-up, scheduled backups, upgrades
CLI_ACTOR = "admin-cli"  # the command lines run on the server's machine (make keys, backup)
