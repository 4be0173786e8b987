"""Where torrentino keeps its data and how long it waits for it.

Read from the environment on every call.
"""

from __future__ import annotations

import os
from pathlib import Path

DB_PATH_VARIABLE = "TORRENTINO_DB_PATH"
BUSY_TIMEOUT_VARIABLE = "TORRENTINO_BUSY_TIMEOUT_MS"
DEFAULT_BUSY_TIMEOUT_MS = 5_000
OPEN_TO_NETWORK_VARIABLE = "TORRENTINO_OPEN_TO_NETWORK"


def default_db_path() -> Path:
    """`$XDG_DATA_HOME/torrentino/torrentino.db`, outside the project directory.

    `chalice local` restarts on any write under the project, so the database must
    not live there by default.
    """
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "torrentino" / "torrentino.db"


def db_path() -> Path:
    """The SQLite file to use: `TORRENTINO_DB_PATH`, or the default."""
    configured = os.environ.get(DB_PATH_VARIABLE)
    return Path(configured) if configured else default_db_path()


def busy_timeout_ms() -> int:
    """How long a request waits for another writer's lock: `TORRENTINO_BUSY_TIMEOUT_MS`.

    Anything but plain decimal digits means the default, 5000.
    """
    configured = os.environ.get(BUSY_TIMEOUT_VARIABLE, "")
    return (
        int(configured)
        if configured.isdecimal() and configured.isascii()
        else DEFAULT_BUSY_TIMEOUT_MS
    )


def open_to_network() -> bool:
    """Whether callers on other machines may use the service while no API key exists.

    `TORRENTINO_OPEN_TO_NETWORK` set to 1, true, yes or on; anything else (the default)
    keeps keyless use to this machine.
    """
    configured = os.environ.get(OPEN_TO_NETWORK_VARIABLE, "")
    return configured.strip().lower() in {"1", "true", "yes", "on"}
