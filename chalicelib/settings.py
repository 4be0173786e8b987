"""Where torrentino keeps its data, how it journals its writes, how long it waits, and
whom it trusts.

Read from the environment on every call.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from pathlib import Path
from typing import Literal

from chalicelib.errors import StorageUnavailable

DB_PATH_VARIABLE = "TORRENTINO_DB_PATH"
BUSY_TIMEOUT_VARIABLE = "TORRENTINO_BUSY_TIMEOUT_MS"
DEFAULT_BUSY_TIMEOUT_MS = 5_000
JOURNAL_MODE_VARIABLE = "TORRENTINO_JOURNAL_MODE"

JournalMode = Literal["wal", "delete", "truncate"]
JOURNAL_MODES: tuple[JournalMode, ...] = ("wal", "delete", "truncate")
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
    return _path(configured) if configured else default_db_path()


@functools.lru_cache(maxsize=16)
def _path(configured: str) -> Path:
    # One `Path` per setting, not one per request: its hash is computed once, too.
    return Path(configured)


def busy_timeout_ms() -> int:
    """How long a request waits for another writer's lock: `TORRENTINO_BUSY_TIMEOUT_MS`.

    Anything but plain decimal digits means the default, 5000.
    """
    return _whole_number(BUSY_TIMEOUT_VARIABLE, DEFAULT_BUSY_TIMEOUT_MS)


def journal_mode() -> JournalMode:
    """How SQLite journals writes: `TORRENTINO_JOURNAL_MODE`, `wal` by default.

    `wal` needs memory shared by every process that opens the file, so one machine's
    disk; `delete` or `truncate` (a rollback journal) is for a network filesystem such as
    EFS, where processes on different hosts share the file. Raises `StorageUnavailable`
    for any other value, rather than guessing: the wrong mode on a network filesystem
    can corrupt the database.
    """
    configured = os.environ.get(JOURNAL_MODE_VARIABLE, "").strip().lower() or "wal"
    for mode in JOURNAL_MODES:
        if configured == mode:
            return mode
    raise StorageUnavailable(
        f"{JOURNAL_MODE_VARIABLE} is {configured!r}; it must be one of {', '.join(JOURNAL_MODES)}"
    )


def is_rollback(mode: JournalMode) -> bool:
    """Whether `mode` is a rollback journal (for a network filesystem) rather than WAL."""
    return mode != "wal"


BACKUP_DIR_VARIABLE = "TORRENTINO_BACKUP_DIR"
BACKUP_EVERY_HOURS_VARIABLE = "TORRENTINO_BACKUP_EVERY_HOURS"
BACKUP_KEEP_DAILY_VARIABLE = "TORRENTINO_BACKUP_KEEP_DAILY"
BACKUP_KEEP_WEEKLY_VARIABLE = "TORRENTINO_BACKUP_KEEP_WEEKLY"
BACKUP_KEEP_MANUAL_VARIABLE = "TORRENTINO_BACKUP_KEEP_MANUAL"


def backup_dir(database: Path) -> Path:
    """Where the backups of `database` go: `TORRENTINO_BACKUP_DIR`, or `backups/` beside it."""
    configured = os.environ.get(BACKUP_DIR_VARIABLE)
    return Path(configured) if configured else database.parent / "backups"


def _whole_number(variable: str, default: int) -> int:
    """A setting of plain decimal digits; anything else means the default."""
    configured = os.environ.get(variable, "")
    return int(configured) if configured.isdecimal() and configured.isascii() else default


def backup_every_hours() -> int:
    """How often the server takes a backup by itself: `TORRENTINO_BACKUP_EVERY_HOURS`
    (default 24; 0 turns scheduled backups off)."""
    return _whole_number(BACKUP_EVERY_HOURS_VARIABLE, 24)


def backup_keep_daily() -> int:
    """Retention: the newest backup of each of this many days (default 7)."""
    return _whole_number(BACKUP_KEEP_DAILY_VARIABLE, 7)


def backup_keep_weekly() -> int:
    """Retention: the newest backup of each of this many ISO weeks (default 4)."""
    return _whole_number(BACKUP_KEEP_WEEKLY_VARIABLE, 4)


def backup_keep_manual() -> int:
    """Retention: the newest this many manual backups, and as many taken before restores
    (default 10; the newest of each is always kept)."""
    return _whole_number(BACKUP_KEEP_MANUAL_VARIABLE, 10)


def _flag(variable: str) -> bool:
    """A setting that is on when set to 1, true, yes or on; off otherwise (the default)."""
    return os.environ.get(variable, "").strip().lower() in {"1", "true", "yes", "on"}


def open_to_network() -> bool:
    """Whether callers on other machines may use the service while no API key exists.

    `TORRENTINO_OPEN_TO_NETWORK` set to 1, true, yes or on; anything else (the default)
    keeps keyless use to this machine.
    """
    return _flag(OPEN_TO_NETWORK_VARIABLE)


TRUSTED_PROXIES_VARIABLE = "TORRENTINO_TRUSTED_PROXIES"


def trusted_proxies() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The reverse proxies whose forwarding headers are believed (`chalicelib/api/
    forwarding.py`): `TORRENTINO_TRUSTED_PROXIES`, addresses and CIDR ranges separated
    by commas or spaces; none by default.

    Raises `ValueError` naming an entry that is neither, rather than trusting less or
    more than was meant.
    """
    return _networks(os.environ.get(TRUSTED_PROXIES_VARIABLE, ""))


@functools.lru_cache(maxsize=4)
def _networks(configured: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for entry in configured.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"{TRUSTED_PROXIES_VARIABLE}: {entry!r} is neither an IP address nor a CIDR"
                " range (such as 127.0.0.1, ::1 or 172.16.0.0/12)"
            ) from None
    return tuple(networks)


NOTIFY_ALLOW_LOOPBACK_VARIABLE = "TORRENTINO_NOTIFY_ALLOW_LOOPBACK"
NOTIFY_REFUSE_PRIVATE_VARIABLE = "TORRENTINO_NOTIFY_REFUSE_PRIVATE"
NOTIFY_DELIVERY_VARIABLE = "TORRENTINO_NOTIFY_DELIVERY"


def notify_allow_loopback() -> bool:
    """Whether notifications may go to this machine's loopback addresses (off by default)."""
    return _flag(NOTIFY_ALLOW_LOOPBACK_VARIABLE)


def notify_refuse_private() -> bool:
    """Whether notifications are kept from private LAN addresses (off: a home's ntfy or
    Gotify often lives there)."""
    return _flag(NOTIFY_REFUSE_PRIVATE_VARIABLE)


def notify_delivery() -> bool:
    """Whether this process sends notifications (`TORRENTINO_NOTIFY_DELIVERY`, on unless set
    to 0, false, no or off): a long-running server's delivery thread, and tests sent now."""
    configured = os.environ.get(NOTIFY_DELIVERY_VARIABLE, "").strip().lower()
    return configured not in {"0", "false", "no", "off"}
