"""The database's in-use lock: every process that serves the database holds it shared; a
restore takes it exclusively, so it never replaces a file someone is using.

The lock is a `flock` on `<database>.lock` beside the database. A restore also asks
SQLite itself for an exclusive lock, so a program that holds the file open without our
lock (the `sqlite3` shell, an older server) is noticed too. Both are locks of the
operating system: reliable on one host; on a network file system only as good as its
locking (NFSv4 and EFS hold them while a client keeps its lease).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from chalicelib.errors import DatabaseInUse, StorageUnavailable
from chalicelib.storage import db, private


def lock_path(db_path: Path) -> Path:
    """The lock file that serving processes hold shared and a restore exclusively."""
    return db_path.with_name(db_path.name + ".lock")


def hold_in_use(db_path: Path, *, create_dir: bool = False) -> IO[bytes] | None:
    """Say "this process uses the database" until the returned file is closed.

    Raises `StorageUnavailable` while a restore is replacing the database. Returns None
    when the lock file cannot be created (say, a read-only directory): the caller goes
    on, without the protection. `create_dir` makes the database's directory first, as
    the first start of a new installation does.
    """
    try:
        if create_dir:
            private.make_folder(db_path.parent)
        handle = open(private.open_file(lock_path(db_path), os.O_RDONLY | os.O_CREAT), "rb")  # noqa: SIM115
    except OSError:
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StorageUnavailable(
            "a backup is being restored into the database; retry shortly", retry_after=1
        ) from None
    return handle


@contextmanager
def in_use(db_path: Path) -> Iterator[None]:
    """Hold the database's shared lock for the duration of the block."""
    handle = hold_in_use(db_path)
    try:
        yield
    finally:
        if handle is not None:
            handle.close()


@contextmanager
def sole_user(db_path: Path) -> Iterator[None]:
    """Hold the database alone for the block: raises `DatabaseInUse` while anyone uses it."""
    with open(private.open_file(lock_path(db_path), os.O_RDONLY | os.O_CREAT), "rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseInUse(
                f"torrentino is using {db_path} (a server, or a backup being taken, holds "
                f"{lock_path(db_path).name}): stop the server, then restore"
            ) from None
        _refuse_if_sqlite_says_open(db_path)
        yield


def _refuse_if_sqlite_says_open(db_path: Path) -> None:
    # Not `db.connect`: this connection only asks SQLite for an exclusive lock, at once.
    if not db_path.is_file():
        return
    try:
        probe = db.bare(db_path)
    except sqlite3.Error:
        return  # not openable by this user: the advisory lock has to answer alone
    with probe as conn:
        try:
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("ROLLBACK")
        except sqlite3.DatabaseError as error:
            if "locked" in str(error) or "busy" in str(error):
                raise DatabaseInUse(
                    f"another program has {db_path} open (SQLite reports it locked): close "
                    "it, then restore"
                ) from None
            # Not a database SQLite can read: nobody can be using it as one.
