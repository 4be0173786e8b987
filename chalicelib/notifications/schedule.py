"""Delivery in a long-running server (`make run`): a daemon thread runs `deliver_due` every
`POLL_SECONDS`, so an event reaches its targets within a second. Each poll with nothing to
do is one read; a run that fails (the database busy, say) is tried again on the next poll.
A Lambda deployment has no long-running process: `app.py`'s `@app.schedule` function runs
`deliver_due` once a minute instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import traceback
from pathlib import Path

from chalicelib import settings
from chalicelib.errors import TorrentinoError
from chalicelib.notifications.delivery import deliver_due

POLL_SECONDS = 0.25
AFTER_FAILURE_SECONDS = 2.0


def worker_name() -> str:
    """This process, as its leases name it: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_delivery(db_path: Path, stop: threading.Event, *, poll: float = POLL_SECONDS) -> None:
    """Deliver what is due until `stop` is set (the body of the delivery thread)."""
    worker = worker_name()
    while not stop.is_set():
        wait = poll
        try:
            report = deliver_due(db_path, worker=worker)
            if report.failed or report.given_up or report.paused:
                _say(f"notifications: {report.summary()}")
        except TorrentinoError as error:
            _say(f"notification delivery failed: {error.message}")
            wait = AFTER_FAILURE_SECONDS
        except Exception:  # the thread must outlive any surprise
            with contextlib.suppress(OSError):
                traceback.print_exc()
            wait = AFTER_FAILURE_SECONDS
        stop.wait(wait)


def _say(message: str) -> None:
    with contextlib.suppress(OSError):
        print(f"torrentino: {message}", file=sys.stderr)


def start_delivery(db_path: Path) -> threading.Event | None:
    """Start the delivery thread (a daemon); return the event that stops it, or None when
    `TORRENTINO_NOTIFY_DELIVERY` turns it off."""
    if not settings.notify_delivery():
        return None
    stop = threading.Event()
    threading.Thread(
        target=run_delivery, args=(db_path, stop), name="torrentino-notifications", daemon=True
    ).start()
    return stop
