"""Files and folders readable by their owner only: the database (SQLite gives its -wal,
-shm and -journal files the database's own mode), backups, their manifests and locks.

Tickets, the audit log and key hashes are nobody else's business on a shared machine,
whatever the umask. Only what torrentino creates is made so: an existing file or folder
keeps the mode its owner gave it.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def create_file(path: Path) -> None:
    """Create `path` empty, readable and writable by its owner only, unless it exists; or
    leave it to whatever opens it next (SQLite, say) to fail, and say why, if it cannot be
    created."""
    with suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE))


def open_file(path: Path, flags: int) -> int:
    """`os.open(path, flags)`, a file it creates readable by its owner only."""
    return os.open(path, flags | os.O_CLOEXEC, FILE_MODE)


def write_file(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path`, a new file readable by its owner only."""
    with open(
        open_file(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w", encoding="utf-8"
    ) as file:
        file.write(text)


def make_folder(path: Path) -> None:
    """Create the folder `path`, and any missing folder above it, each for its owner only;
    a folder that exists already is left as it is. Raises `FileExistsError` if `path` is
    a file."""
    if path.parent != path and not path.parent.exists():
        make_folder(path.parent)
    try:
        path.mkdir(mode=FOLDER_MODE)
    except FileExistsError:  # there already, or made meanwhile by another process
        if not path.is_dir():
            raise
