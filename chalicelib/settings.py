"""Where torrentino keeps its data, read from the environment on every call."""

from __future__ import annotations

import os
from pathlib import Path

DB_PATH_VARIABLE = "TORRENTINO_DB_PATH"


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
