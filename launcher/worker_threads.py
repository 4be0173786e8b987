"""The threads that serve connections: one per connection while it lasts, as in `chalice
local`, but kept when it ends, for the next one.

`chalice local`'s server (socketserver's `ThreadingMixIn`) starts a thread for every
connection and lets it end with it: on fresh connections (a client that sends one request
per connection, or `Connection: close`), starting and ending that thread cost more than
the request itself. Here a thread whose connection has ended waits for the next one, for
`IDLE_SECONDS`, then ends: a burst of clients leaves no threads behind for long. How many
connections are served at once is still bounded where it was (`ConnectionSlots.admit`),
and every connection still has a thread of its own from accept to close.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

# How long a thread waits for another connection before it ends: long enough for the next
# of a run of fresh connections, short enough that the threads a crowd of clients needed
# are gone soon after it (the connection limits' tests wait for that).
IDLE_SECONDS = 2.0

Serve = Callable[[Any, Any], None]  # (the accepted socket, the client's address)


class WorkerThreads:
    """Runs `serve` for each connection on a thread of its own, reusing idle threads."""

    def __init__(self, serve: Serve, idle_seconds: float = IDLE_SECONDS) -> None:
        self._serve = serve
        self._idle_seconds = idle_seconds
        self._waiting: queue.SimpleQueue[tuple[Any, Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        # Threads waiting for a connection, less the connections already handed to them.
        self._idle = 0
        self.started = 0  # threads started so far (for tests and benchmarks)

    def run(self, request: Any, client_address: Any) -> None:
        """Serve this connection on an idle thread, or on a new one if none is idle."""
        with self._lock:
            if self._idle:
                self._idle -= 1  # that thread's: the next `_next` to look takes it
                self._waiting.put((request, client_address))
                return
            self.started += 1
        thread = threading.Thread(
            target=self._work, args=((request, client_address),), name="connection", daemon=True
        )
        thread.start()

    def idle(self) -> int:
        """How many threads wait for a connection."""
        with self._lock:
            return self._idle

    def stop(self) -> None:
        """End every idle thread (once the accept loop has ended)."""
        with self._lock:
            for _ in range(self._idle):
                self._waiting.put(None)
            self._idle = 0

    def _work(self, first: tuple[Any, Any]) -> None:
        connection: tuple[Any, Any] | None = first
        while connection is not None:
            self._serve(*connection)
            connection = self._next()

    def _next(self) -> tuple[Any, Any] | None:
        """The next connection for this thread, or None when it should end."""
        with self._lock:
            self._idle += 1
        try:
            return self._waiting.get(timeout=self._idle_seconds)
        except queue.Empty:
            with self._lock:  # `run` hands a connection over under this lock
                try:
                    return self._waiting.get_nowait()
                except queue.Empty:
                    self._idle -= 1
                    return None
