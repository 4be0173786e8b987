"""Scheduled backups in a long-running server: one at start-up when the newest backup is
older than the interval, then one each interval (`TORRENTINO_BACKUP_EVERY_HOURS`).

A daemon thread does it, so neither start-up nor requests wait for a backup. A failed
backup is recorded (`backup_failed`) and tried again an hour later, not in a loop. A
Lambda deployment has no long-running process: `app.py`'s `@app.schedule` function
calls `backup.backup_if_due` once a day instead.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

from chalicelib.backups.backup import backup_if_due, seconds_until_due
from chalicelib.errors import BackupInProgress, TorrentinoError

RETRY_AFTER_FAILURE_SECONDS = 3600.0
RETRY_WHILE_BUSY_SECONDS = 60.0
# The schedule is re-read at least this often, so a changed setting or a backup taken by
# hand is noticed without a restart.
LONGEST_SLEEP_SECONDS = 3600.0


def run_scheduled_backups(
    db_path: Path,
    stop: threading.Event,
    *,
    retry_after_failure: float = RETRY_AFTER_FAILURE_SECONDS,
    longest_sleep: float = LONGEST_SLEEP_SECONDS,
) -> None:
    """Take each due backup until `stop` is set (the body of the scheduler thread).

    A failed backup is tried again after `retry_after_failure` seconds; the schedule is
    re-read at least every `longest_sleep` seconds. Both are the constants above unless a
    caller that cannot wait hours for them (a test) says otherwise; no wait is shorter
    than a second.
    """
    while not stop.is_set():
        try:
            created = backup_if_due(db_path)
            if created is not None:
                _say(f"scheduled backup {created.name} taken")
            wait = seconds_until_due(db_path)
        except BackupInProgress:
            wait = RETRY_WHILE_BUSY_SECONDS
        except TorrentinoError as error:
            _say(f"scheduled backup failed: {error.message}")
            wait = retry_after_failure
        except Exception:  # the thread must outlive any surprise; the next try may work
            with contextlib.suppress(OSError):
                traceback.print_exc()
            wait = retry_after_failure
        if wait is None:  # switched off meanwhile
            return
        wait = min(max(wait, 1.0), longest_sleep)
        _say(f"next backup check in {wait / 60:.0f} min")
        stop.wait(wait)


def _say(message: str) -> None:
    with contextlib.suppress(OSError):  # stderr may be a file on a full disk
        print(f"torrentino: {message}", file=sys.stderr)


@dataclass(frozen=True)
class ScheduledBackups:
    """The scheduler thread, and the event that stops it."""

    thread: threading.Thread
    stop_event: threading.Event

    def stop(self, timeout: float) -> bool:
        """Stop the thread, waiting up to `timeout` seconds; whether it has stopped. It
        stops between backups: one being taken goes on, and if the process exits first,
        it leaves only hidden temporary files, which the next backup removes."""
        self.stop_event.set()
        self.thread.join(timeout)
        return not self.thread.is_alive()


def start_scheduled_backups(db_path: Path) -> ScheduledBackups | None:
    """Start the scheduler thread (a daemon); None when scheduled backups are off."""
    if seconds_until_due(db_path) is None:
        return None
    stop = threading.Event()
    thread = threading.Thread(
        target=run_scheduled_backups,
        args=(db_path, stop),
        name="torrentino-scheduled-backups",
        daemon=True,
    )
    thread.start()
    return ScheduledBackups(thread, stop)
