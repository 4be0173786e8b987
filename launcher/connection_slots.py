"""Which connections the launcher serves, what each waits for, and until when.

Every accepted connection has a thread (as in `chalice local`) and, while it waits
for its client, a deadline. At most `max_connections` are served at once. When a new
connection arrives and every place is taken, the one that has waited longest for its
client gives up its place (`ConnectionSlots._eviction_candidate` says which): a client
that sends nothing, or too little, costs the others nothing, while an ordinary client,
whose connection is accepted only once its request has arrived and which sends the
rest of it at once, has hardly waited at all. nginx does the same, least recently used
first, with idle keep-alive connections when its `worker_connections` run out.
Only when every place is busy with a request does the new connection get a 503,
answered by one of a few spare threads; beyond those, its socket is closed unanswered.
"""

from __future__ import annotations

import contextlib
import io
import select
import socket
import threading
import time
from typing import Any

from chalicelib.api.errors import RequestTimeout
from launcher.connection_limits import (
    MAX_HEAD_BYTES,
    SPARE_THREADS,
    ClientTooSlow,
    ConnectionEvicted,
    ConnectionLimits,
    HeadTooLarge,
)


class ClientConnection:
    """One accepted connection: what it waits for now, and the deadline for it.

    Its handler thread moves it from step to step; the accepting thread may evict it
    while it waits for its client (`ConnectionSlots.admit`).
    """

    def __init__(self, sock: socket.socket, limits: ConnectionLimits, lock: threading.Lock) -> None:
        self.sock = sock
        self.limits = limits
        self.turned_away = False  # over the cap: every request is answered 503
        self.evicted = False
        self.sent_before_eviction = False  # bytes were waiting for its thread when evicted
        self.working = False  # a whole request is in: the app runs or the answer is sent
        # Its thread is in `recv`, waiting for the client. A thread between reads (parsing
        # a head it has read, or not yet run) is not waiting for its client, however long
        # a busy machine takes to run it: it is evicted only after every waiting one.
        self.in_recv = False
        self.requests = 0
        self.request_started = False  # a byte of the current request has arrived
        self.reading = "headers"
        self._head_bytes = 0
        self._lock = lock
        # When its client last sent a byte or was last answered (or it was accepted).
        self.quiet_since = time.monotonic()
        self.deadline = self.quiet_since + limits.header_timeout

    def await_request(self) -> None:
        """Wait for the next request: the first within the header timeout of the
        connection, a later one within the keep-alive timeout."""
        with self._lock:
            self.working = False
        if self.requests:
            self.quiet_since = time.monotonic()
            self.deadline = self.quiet_since + self.limits.keepalive_timeout
        self.requests += 1
        self.request_started = False
        self.reading = "headers"
        self._head_bytes = 0

    def received(self, count: int) -> None:
        """Note that the request has begun and `count` more bytes of it arrived.

        Raises `HeadTooLarge`.
        """
        if count:
            self.quiet_since = time.monotonic()
        if not self.request_started:
            self.request_started = True
            if self.requests > 1:  # the keep-alive wait is over: the head has its own time
                self.deadline = time.monotonic() + self.limits.header_timeout
        if self.reading == "headers":
            self._head_bytes += count
            # Counted as read, so one buffer of the body may be in it too.
            if self._head_bytes > MAX_HEAD_BYTES + io.DEFAULT_BUFFER_SIZE:
                raise HeadTooLarge

    def await_body(self) -> None:
        """The head is in: the body has the body timeout from now."""
        self.reading = "body"
        self.deadline = time.monotonic() + self.limits.body_timeout

    def timeout_error(self) -> RequestTimeout:
        """The 408 for the part of the request that did not arrive in time."""
        if self.reading == "body":
            return RequestTimeout("body", self.limits.body_timeout)
        return RequestTimeout("headers", self.limits.header_timeout)

    def begin_work(self) -> bool:
        """Mark the whole request in, so it keeps its place; False if it was evicted."""
        with self._lock:
            if self.evicted:
                return False
            self.working = True
            return True

    def start_recv(self) -> None:
        """Note that its thread waits in `recv`; raises `ConnectionEvicted` if evicted."""
        with self._lock:
            if self.evicted:
                raise ConnectionEvicted
            self.in_recv = True

    def end_recv(self) -> bool:
        """Note that its thread is out of `recv`; whether it was evicted meanwhile."""
        with self._lock:
            self.in_recv = False
            return self.evicted

    def has_unread_bytes(self) -> bool:
        """Whether the client has sent bytes its thread has not read yet (or closed)."""
        # poll, not recv: a socket with a timeout waits in recv, even with MSG_DONTWAIT.
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))

    def evict(self) -> None:
        """Give up this waiting connection's place (the caller holds the slots' lock).

        Shutting the socket's reading side wakes the handler thread from `recv`.
        """
        self.evicted = True
        self.sent_before_eviction = self.has_unread_bytes()
        self.limits = self.limits.for_turning_away()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RD)


class ConnectionSlots:
    """The connections a server holds: at most `max_connections` served, a few leaving."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._served: dict[socket.socket, ClientConnection] = {}
        # Evicted or turned away, each still on its thread until it has answered.
        self._leaving: dict[socket.socket, ClientConnection] = {}

    def admit(self, sock: socket.socket) -> ClientConnection | None:
        """A place for a new connection, or None when it must be closed unanswered."""
        with self._lock:
            spare = len(self._leaving) < SPARE_THREADS
            if len(self._served) >= self.limits.max_connections and spare:
                victim = self._eviction_candidate()
                if victim is not None:
                    victim.evict()
                    self._leaving[victim.sock] = self._served.pop(victim.sock)
            if len(self._served) < self.limits.max_connections:
                self._served[sock] = ClientConnection(sock, self.limits, self._lock)
                return self._served[sock]
            if spare:
                turned_away = ClientConnection(sock, self.limits.for_turning_away(), self._lock)
                turned_away.turned_away = True
                self._leaving[sock] = turned_away
                return turned_away
            return None

    def _eviction_candidate(self) -> ClientConnection | None:
        """The connection to give up its place, if any is not busy with a request.

        The one whose client has been quiet longest (least recently used): nothing from
        it since it was accepted, since its last byte, or since its last answer. A
        silent client is quiet from the start, a slow one between its bytes and an idle
        keep-alive one since its answer; an ordinary client, whose request arrives at
        once, has hardly been quiet at all. Those not waiting for their client go after
        every one that is, least recently used first too: a thread that is not in `recv`
        (it is parsing what it read, or has not run yet; threads are slow to run on a
        busy machine), or one whose client has sent bytes it has not read yet.
        """

        def order(c: ClientConnection) -> tuple[bool, float]:
            waiting = c.in_recv and not c.has_unread_bytes()
            return (not waiting, c.quiet_since)

        return min((c for c in self._served.values() if not c.working), key=order, default=None)

    def stop_waiting(self) -> int:
        """The server is stopping: every connection not busy with a request gives up its
        place, as an evicted one does (its thread wakes from `recv`, and a client that
        sent part of a request is answered 503). How many are busy, left to finish."""
        with self._lock:
            for waiting in [c for c in self._served.values() if not c.working]:
                waiting.evict()
                self._leaving[waiting.sock] = self._served.pop(waiting.sock)
            return len(self._served)

    def open_connections(self) -> int:
        """How many connections still have a thread: served, or leaving."""
        with self._lock:
            return len(self._served) + len(self._leaving)

    def connection(self, sock: socket.socket) -> ClientConnection:
        """The connection `admit` made for `sock`."""
        with self._lock:
            return self._served.get(sock) or self._leaving[sock]

    def release(self, sock: socket.socket) -> None:
        """Forget `sock`: its thread is done with it."""
        with self._lock:
            self._served.pop(sock, None)
            self._leaving.pop(sock, None)


class DeadlineReader(io.RawIOBase):
    """The socket's reading side, each read bounded by the connection's current deadline.

    A socket timeout bounds one `recv`; this bounds the whole step, so a client that
    sends a byte now and then cannot stretch it.
    """

    def __init__(self, client: ClientConnection) -> None:
        super().__init__()
        self._client = client

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Raises `ClientTooSlow`, `ConnectionEvicted` or `HeadTooLarge`."""
        client = self._client
        remaining = client.deadline - time.monotonic()
        if remaining <= 0:
            raise ClientTooSlow
        client.sock.settimeout(remaining)
        client.start_recv()
        try:
            count = client.sock.recv_into(buffer)
        except TimeoutError:
            raise ClientTooSlow from None
        finally:
            evicted = client.end_recv()
        if count:  # counted even when evicted: a client that sent bytes is answered 503
            client.received(count)
        if evicted:
            raise ConnectionEvicted
        return count


class DeadlineWriter(io.BufferedIOBase):
    """The socket's writing side; each write must be taken within the send timeout."""

    def __init__(self, client: ClientConnection) -> None:
        super().__init__()
        self._client = client

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        """Send all of `data`; raises `TimeoutError` when the client does not take it."""
        self._client.sock.settimeout(self._client.limits.send_timeout)
        self._client.sock.sendall(data)
        with memoryview(data) as view:
            return view.nbytes
