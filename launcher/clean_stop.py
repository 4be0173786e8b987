"""Stopping the launcher cleanly on SIGINT (Ctrl-C) or SIGTERM (a service manager).

The first signal ends the accept loop (within a quarter of a second); then the listening
socket closes (new connections are refused), every connection waiting for its client
gives up its place (a client that had sent part of a request gets a 503 saying the server
is stopping), the requests in flight finish and are answered (for at most
`STOP_SECONDS`), the backup scheduler stops, the database is let go, and one line says
so. The process exits 0, with no traceback: a stop is not a failure. A signal during
start-up (an upgrade, say) does not cut it short: the server stops as soon as it is up.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from chalicelib.backups.schedule import ScheduledBackups
from chalicelib.service import startup

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long the requests in flight get to finish: more than any request takes on a healthy
# server (the busy timeout is 5 s), less than a service manager waits (systemd: 90 s).
STOP_SECONDS = 5.0
POLL_SECONDS = 0.02
# How often the accept loop looks for a stop signal (it wakes for connections meanwhile).
ACCEPT_LOOP_TURN_SECONDS = 0.25
# A failed upgrade leaves the database as it was and the server refuses to start: an exit
# status of its own, so the systemd unit does not restart it in a loop
# (RestartPreventExitStatus), each try taking another backup.
UPGRADE_FAILED_EXIT_STATUS = 3


class StopServing(Exception):
    """A stop signal has come: the accept loop ends (raised between two of its turns)."""


class StopSignals:
    """SIGINT and SIGTERM, caught from the launcher's first moment. The handler only notes
    the first: it may run between any two bytecodes of the main thread (inside a lock,
    while a thread starts), so it takes no lock and starts nothing. The accept loop looks
    between its turns (`raise_if_received`), so a signal during start-up (an upgrade, say)
    stops the server as soon as it is up; later signals change nothing, the stop being
    bounded already."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        del frame
        if self.received is None:
            self.received = signal.Signals(signum)

    def raise_if_received(self) -> None:
        """Raises `StopServing` once a stop signal has come."""
        if self.received is not None:
            raise StopServing


def stop_serving(
    server: Any,
    received: signal.Signals | None,
    scheduled: ScheduledBackups | None,
    db_path: Path,
) -> None:
    """After the accept loop has ended: close, drain, stop the scheduler, say so."""
    started = time.monotonic()
    server.stopping = True  # every answer from now on closes its connection
    server.socket.close()
    busy = server.slots.stop_waiting()
    deadline = started + STOP_SECONDS
    while server.slots.open_connections() and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    cut_off = server.slots.open_connections()
    remaining = max(0.0, deadline - time.monotonic())
    backup_left = scheduled is not None and not scheduled.stop(remaining)
    startup.stop(db_path)
    how = received.name if received is not None else "request"
    said = f"torrentino: stopped on {how} in {time.monotonic() - started:.1f} s"
    said += f": {busy - min(cut_off, busy)} of {busy} requests in flight finished"
    if cut_off:
        said += f", {cut_off} connections cut off after {STOP_SECONDS:.0f} s"
    if backup_left:
        said += "; a scheduled backup was still running and is left unfinished"
    with contextlib.suppress(OSError):
        print(said, file=sys.stderr, flush=True)
