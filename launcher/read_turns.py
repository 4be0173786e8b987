"""Reads take turns: a GET runs the app only while it holds one of a few turns.

Every connection has a thread of its own (`worker_threads`), and every thread that runs
Python competes for the GIL: each call into SQLite gives it away, and taking it back
means waiting behind the other threads. With 16 connections reading at once, a GET cost
about 1.4 ms of CPU where it costs 0.8 ms alone, most of it in those hand-offs (74
context switches per GET). So reads run at most `READS_AT_ONCE` at a time (two per core,
as a fixed pool of workers would); the others wait in line, first come first served,
their request already read, and their answers are sent outside the turn, so a client
that is slow to read holds none. In line, not in a scramble: with a plain semaphore a
newcomer could take a turn before those already waiting, and at 16 connections a GET's
p99 was 34 to 41 ms where in line it is 16 to 17 ms.

Writes do not take turns: they already take theirs on the writer lock
(`db.writers_turn`), and a write waiting there must never keep a read from running.
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable
from typing import TypeVar

# Two per core: one can run Python while another waits on SQLite or the disk.
READS_AT_ONCE = max(2, 2 * (os.cpu_count() or 1))

T = TypeVar("T")


class ReadTurns:
    """At most `at_once` callers run at a time; the others wait for a turn, first come
    first served (a turn given back goes straight to the longest waiting caller, so a
    newcomer never takes it first and no caller waits behind an endless stream)."""

    def __init__(self, at_once: int = READS_AT_ONCE) -> None:
        self._lock = threading.Lock()
        self._free = at_once
        self._waiting: collections.deque[threading.Lock] = collections.deque()

    def run(self, work: Callable[[], T]) -> T:
        """`work()` in a turn of its own (waiting for one), given back however it ends."""
        self._take()
        try:
            return work()
        finally:
            self._give_back()

    def waiting(self) -> int:
        """How many callers wait for a turn."""
        with self._lock:
            return len(self._waiting)

    def _take(self) -> None:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return
            handed = threading.Lock()
            handed.acquire()
            self._waiting.append(handed)
        handed.acquire()  # released by `_give_back`: the turn is this caller's

    def _give_back(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()  # the turn passes on, never free
            else:
                self._free += 1
