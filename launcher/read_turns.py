"""Reads take turns: a GET runs the app only while it holds one of a few turns.

Every connection has a thread of its own (`worker_threads`), and every thread that runs
Python competes for the GIL: each call into SQLite gives it away, and taking it back
means waiting behind the other threads. With 16 connections reading at once, a GET cost
about 1.4 ms of CPU where it costs 0.8 ms alone, most of it in those hand-offs (74
context switches per GET). So reads run at most `READS_AT_ONCE` at a time (two per core,
as a fixed pool of workers would); the others wait in line, their request already read,
and their answers are sent outside the turn, so a client that is slow to read holds none.

Writes do not take turns: they already take theirs on the writer lock
(`db.writers_turn`), and a write waiting there must never keep a read from running.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

# Two per core: one can run Python while another waits on SQLite or the disk.
READS_AT_ONCE = max(2, 2 * (os.cpu_count() or 1))

T = TypeVar("T")


class ReadTurns:
    """At most `at_once` callers run at a time; the others wait for a turn."""

    def __init__(self, at_once: int = READS_AT_ONCE) -> None:
        self._turns = threading.BoundedSemaphore(at_once)

    def run(self, work: Callable[[], T]) -> T:
        """`work()` in a turn of its own (waiting for one), given back however it ends."""
        with self._turns:
            return work()
