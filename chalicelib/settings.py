"""Where torrentino keeps its data and how long it waits for it.

Read from the environment on every call.
"""

from __future__ import annotations

import os
from pathlib import Path

DB_PATH_VARIABLE = "TORRENTINO_DB_PATH"
BUSY_TIMEOUT_VARIABLE = "TORRENTINO_BUSY_TIMEOUT_MS"
DEFAULT_BUSY_TIMEOUT_MS = 5_000


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
