"""SQLite connections: how one is opened and configured, its transactions, and what its
errors mean to a caller.

A connection lives for one unit of work: `connect()` opens and configures it, and always
closes it. Transactions are explicit (`BEGIN IMMEDIATE` for writes), so a change and its
audit event commit together or not at all.
"""

from __future__ import annotations

import functools
import random
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.request import pathname2url

from chalicelib import settings
from chalicelib.errors import StorageCorrupt, StorageUnavailable
from chalicelib.storage import private

# A little above the 1000-page auto-checkpoint, so the WAL is not regrown after each reset.
WAL_SIZE_LIMIT_BYTES = 8 * 1024 * 1024
RETRY_AFTER_SECONDS = 1


class ReadingConnection(sqlite3.Connection):
    """A connection for a unit of work that only reads (a GET): it has none of the settings
    only a writer needs, and `transaction` refuses to write on it."""


def _open(
    path: Path,
    *,
    create: bool = False,
    read_only: bool = False,
    any_thread: bool = False,
    reading: bool = False,
) -> sqlite3.Connection:
    """The one place a connection to the served database is opened (`bare` opens the
    others).

    Only a migration may create the file: a request finding it gone must not quietly start
    an empty database (say, in the mount point of an unmounted disk). A `reading`
    connection skips the settings only writes use (foreign keys, the WAL's size limit):
    each is a statement, and a wait for the GIL behind other requests.
    """
    journal_mode = settings.journal_mode()
    mode = "ro" if read_only else "rwc" if create else "rw"
    if create:  # before SQLite would, by the umask; -wal, -shm, -journal take its mode
        private.create_file(path)
    conn = sqlite3.connect(
        _uri(path, mode),
        uri=True,
        timeout=settings.busy_timeout_ms() / 1000,
        isolation_level=None,
        check_same_thread=not any_thread,
        factory=ReadingConnection if reading else sqlite3.Connection,
    )
    conn.row_factory = sqlite3.Row
    if read_only:
        if json_is_innocuous():  # else SQLite could not load our own schema under it
            conn.execute("PRAGMA trusted_schema = OFF")
        return conn
    if not reading:
        conn.execute("PRAGMA foreign_keys = ON")
        # The WAL outlives requests (see `hold_open`): cap what it keeps after a reset.
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
    # FULL: a commit is on disk before we acknowledge it, even across a power cut. It is
    # this SQLite's default (then it needs no statement) unless it was built otherwise.
    if not synchronous_full_by_default():
        conn.execute("PRAGMA synchronous = FULL")
    if settings.is_rollback(journal_mode):
        # A rollback journal mode belongs to the connection, not the file: set it on
        # each one. This also refuses a file some other process keeps in WAL mode.
        try:
            set_journal_mode(conn, journal_mode)
        except BaseException:
            conn.close()
            raise
    return conn


def bare(path: Path, *, create: bool = False) -> closing[sqlite3.Connection]:
    """A connection with none of the service's settings, that never waits for a lock: for a
    file torrentino does not serve (a backup being written), or to ask SQLite whether
    anyone has the file open. Use it as a context manager; it is closed at the end."""
    if create:  # before SQLite would, by the umask; -wal, -shm, -journal take its mode
        private.create_file(path)
    return closing(
        sqlite3.connect(
            _uri(path, "rwc" if create else "rw"), uri=True, timeout=0, isolation_level=None
        )
    )


def untrusted(path: Path) -> closing[sqlite3.Connection]:
    """A read-only connection to a file whose schema is not known to be ours yet (a backup
    being checked): for reading `sqlite_master` and plain tables, and nothing in its
    schema may run. Use it as a context manager; it is closed at the end.

    `trusted_schema = OFF` keeps functions with side effects out of the file's views,
    triggers and indexes; `query_only` and the read-only open keep every write (so every
    trigger) out. SQLite before 3.41 counts even `json_extract` as unsafe there and would
    refuse to load our own schema: `writable_schema` lets the connection read the schema's
    rows without loading what it cannot (it writes nothing: the file is read-only here).
    """
    conn = sqlite3.connect(
        _uri(path, "ro"),
        uri=True,
        timeout=settings.busy_timeout_ms() / 1000,
        isolation_level=None,
    )
    conn.row_factory = sqlite3.Row
    for pragma in ("trusted_schema = OFF", "query_only = ON", "writable_schema = ON"):
        conn.execute(f"PRAGMA {pragma}")
    return closing(conn)


@functools.cache
def synchronous_full_by_default() -> bool:
    """Whether every new connection of this SQLite has `synchronous = FULL` (2), in WAL and
    rollback journal modes alike: what its build says (`PRAGMA compile_options`; without
    either option, both defaults are FULL)."""
    with closing(sqlite3.connect(":memory:", isolation_level=None)) as conn:
        options = dict(
            option.partition("=")[::2] for (option,) in conn.execute("PRAGMA compile_options")
        )
    default = options.get("DEFAULT_SYNCHRONOUS", "2")
    return default == "2" and options.get("DEFAULT_WAL_SYNCHRONOUS", default) == "2"


@functools.cache
def json_is_innocuous() -> bool:
    """Whether this SQLite lets `json_extract` run in a schema with `trusted_schema = OFF`
    (it does from 3.41 on), so our own schema can be loaded that way."""
    with closing(sqlite3.connect(":memory:", isolation_level=None)) as conn:
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.execute("CREATE TABLE probe (state TEXT)")
        try:
            conn.execute("CREATE INDEX probe_type ON probe(json_extract(state, '$.type'))")
        except sqlite3.OperationalError:
            return False
    return True


def _uri(path: Path, mode: str) -> str:
    return _file_uri(str(path.absolute()), mode)


@functools.lru_cache(maxsize=64)
def _file_uri(absolute: str, mode: str) -> str:
    # Quoted once per file: a request opens the same file as the last one did.
    return f"file:{pathname2url(absolute)}?mode={mode}"


def set_journal_mode(conn: sqlite3.Connection, mode: settings.JournalMode) -> None:
    """Put the database in journal `mode`, waiting up to the busy timeout for others.

    SQLite switches journal modes without its busy handler: a switch that meets another
    process's lock fails at once with "database is locked", as when several processes
    (cold Lambda containers, say) open a new file together. So it is retried here, with
    short random sleeps, until the busy timeout. Leaving WAL needs every other connection
    to the file closed. Raises `StorageUnavailable` when the mode could not be set.
    """
    deadline = time.monotonic() + settings.busy_timeout_ms() / 1000
    while True:
        try:
            current = str(conn.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0])
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
            current = "locked by another process"
        if current == mode:
            return
        if time.monotonic() >= deadline:
            raise StorageUnavailable(
                f"the database could not be put in {mode!r} journal mode "
                f"({settings.JOURNAL_MODE_VARIABLE}): it stayed {current!r}; another process "
                "has it open (every process that opens the file must use the same mode)",
                retry_after=RETRY_AFTER_SECONDS,
            )
        time.sleep(random.uniform(0.001, 0.02))


@contextmanager
def connect(
    path: Path, *, create: bool = False, read_only: bool = False, reading: bool = False
) -> Iterator[sqlite3.Connection]:
    """Open a configured connection for one unit of work, and always close it.

    The file must exist unless `create` is true; `read_only` opens it for reading only,
    with none of the settings a writer needs; `reading` opens it as usual, for a unit of
    work that only reads (`ReadingConnection`). Raises `StorageUnavailable` or
    `StorageCorrupt` for storage faults.
    """
    try:
        opened = _open(path, create=create, read_only=read_only, reading=reading)
        with closing(opened) as conn:
            yield conn
    except sqlite3.Error as error:
        if not create and not path.exists():
            raise StorageUnavailable(
                "the database file is missing; restore it, or restart torrentino to begin "
                "a new, empty one"
            ) from error
        translated = translate_error(error)
        if translated is error:
            raise
        raise translated from error


def hold_open(path: Path) -> sqlite3.Connection:
    """An idle connection to keep for the life of the process; never use it for queries.
    For WAL mode only: a rollback journal has no WAL to keep up, and nothing to gain.

    When the last connection to a WAL database closes, SQLite checkpoints the whole WAL
    into the database file (an fsync under `synchronous = FULL`) and deletes the -wal
    and -shm files; the next connection recreates both and rebuilds the WAL index. With
    a connection per request, a request on a quiet server would always be that last
    connection and pay for setting the WAL up and tearing it down, several times the cost
    of its write; and on a full disk the files could not be recreated, so even a read
    would fail.

    This connection holds no transaction and no lock but SQLite's "someone is here", so
    it never blocks a writer or a checkpoint, and it is never handed to a request (each
    still opens and closes its own). Durability is unchanged: every commit still fsyncs
    the WAL before it returns, and checkpoints run as usual when the WAL reaches 1000
    pages.
    """
    conn = _open(path, any_thread=True)
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the WAL now
    return conn


def translate_error(error: sqlite3.Error) -> Exception:
    """Turn an sqlite3 error into the domain error a caller can act on."""
    message = str(error).lower()
    if _is_busy(error):
        return StorageUnavailable(
            "the database is busy; retry shortly", retry_after=RETRY_AFTER_SECONDS
        )
    if "readonly" in message or "read-only" in message:
        return StorageUnavailable("the database is read-only", retry_after=None)
    if "full" in message or "disk i/o" in message or "unable to open" in message:
        return StorageUnavailable(f"the database cannot be written: {error}")
    if "not a database" in message or "malformed" in message or "no such table" in message:
        return StorageCorrupt(f"the database is damaged or not torrentino's: {error}")
    return error


def _is_busy(error: sqlite3.Error) -> bool:
    message = str(error).lower()
    return "locked" in message or "busy" in message


# Writers in this process queue here, woken in turn, rather than in SQLite's busy
# handler, which polls with sleeps of up to 100 ms and lets an unlucky writer starve.
_writer = threading.RLock()


@contextmanager
def transaction(
    conn: sqlite3.Connection, *, write: bool = True, prepared: Iterable[str] = ()
) -> Iterator[None]:
    """Run the block in one transaction: committed if it returns, rolled back if it raises.

    A write transaction takes the write lock up front (`BEGIN IMMEDIATE`), so a
    read-check-write sequence inside it cannot be based on a stale read. Writers in
    this process first take turns on `_writer`, waiting at most the busy timeout;
    raises `StorageUnavailable` (busy) after that. The `prepared` statements, those the
    block will run that change rows, are compiled before the turn (`prepare`).
    """
    if not write:
        with _run_in_transaction(conn, "BEGIN"):
            yield
        return
    if isinstance(conn, ReadingConnection):
        raise TypeError("a write on a connection opened for reading (`connect(reading=True)`)")
    prepare(conn, (_BEGIN_WRITE, *prepared))
    with writers_turn(), _run_in_transaction(conn, _BEGIN_WRITE):
        yield


_BEGIN_WRITE = "BEGIN IMMEDIATE"


def prepare(conn: sqlite3.Connection, statements: Iterable[str]) -> None:
    """Compile `statements` into the connection's statement cache, running none of them:
    run later, each is taken from the cache as it is.

    A new connection compiles each statement the first time it runs it; a write's
    statements would be compiled under the write lock, each compile a release of the
    GIL and a wait to take it back while the next writer waits (about 70 us of a
    create's 620 alone, more under load). `executemany` with no rows compiles its
    statement and runs nothing; it takes only statements that change rows (and
    `BEGIN IMMEDIATE`), and raises `ProgrammingError` for a read.
    """
    for statement in statements:
        conn.executemany(statement, ())


@contextmanager
def writers_turn() -> Iterator[None]:
    """This process's writers one at a time, in turn (`transaction` takes it): waits at
    most the busy timeout; raises `StorageUnavailable` (busy) after that."""
    if not _writer.acquire(timeout=settings.busy_timeout_ms() / 1000):
        raise StorageUnavailable(
            "the database is busy; retry shortly", retry_after=RETRY_AFTER_SECONDS
        )
    try:
        yield
    finally:
        _writer.release()


@contextmanager
def _run_in_transaction(conn: sqlite3.Connection, begin: str) -> Iterator[None]:
    conn.execute(begin)
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    conn.commit()
