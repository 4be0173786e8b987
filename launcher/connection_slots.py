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
answered by one of a few spare threads. An evicted connection answers on one of those
too, so while every spare thread is taken (each is soon free: each of its steps has 2 s)
the accepting thread waits for one, and new connections wait in the kernel's queue:
none is closed unanswered while the server serves.

One client address (an IPv6 client's /64: `share_holder`) holds at most
`max_per_client` places (half of them): a new connection from an address that holds its
share takes the place of that address's own quietest connection, or gets the 503 if all
of its are busy. So clients that pipeline
requests and never read the answers (each busy until its answer has waited the send
timeout) hold half the places at most, whatever their number, and the other half stays
for everyone else. A trusted reverse proxy's connection counts for the client it
forwards, request by request (`ConnectionSlots.attribute`), and between requests for
nobody.
"""

from __future__ import annotations

import contextlib
import functools
import io
import ipaddress
import math
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from launcher.connection_limits import (
    MAX_HEAD_BYTES,
    SPARE_THREADS,
    ClientTooSlow,
    ConnectionEvicted,
    ConnectionLimits,
    HeadTooLarge,
)
from launcher.errors import RequestTimeout

# How often `ConnectionSlots.admit` asks whether to keep waiting for a spare thread.
WAIT_SLICE_SECONDS = 0.25


def _never() -> bool:
    return False


class ClientConnection:
    """One accepted connection: what it waits for now, and the deadline for it.

    Its handler thread moves it from step to step; the accepting thread may evict it
    while it waits for its client (`ConnectionSlots.admit`).
    """

    def __init__(
        self,
        sock: socket.socket,
        limits: ConnectionLimits,
        lock: threading.Lock,
        client: str | None = None,
    ) -> None:
        self.sock = sock
        sock.setblocking(False)  # its reads and writes wait themselves (`wait_for`)
        self.limits = limits
        # The client address its place counts for; None: none (a trusted proxy's
        # connection between requests). `attribute` may change it for one request.
        self.client = self._admitted_for = client
        self.turned_away = False  # over the cap: every request is answered 503
        self.over_share = False  # turned away or evicted because its address holds its share
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
        self.send_deadline: float | None = None  # set by the answer's first write

    def await_request(self) -> None:
        """Wait for the next request: the first within the header timeout of the
        connection, a later one within the keep-alive timeout."""
        with self._lock:
            self.working = False
            self.client = self._admitted_for
        self.send_deadline = None
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


@functools.lru_cache(maxsize=4096)  # a new connection usually comes from a known address
def share_holder(address: str | None) -> str | None:
    """Whom a client address's places count for: the address itself, but for IPv6 its /64,
    all of which one machine may send from (privacy addresses change by the hour), as
    nginx's and fail2ban's users group them; None stays None."""
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return address


class ConnectionSlots:
    """The connections a server holds: at most `max_connections` served, a few leaving."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._spare_freed = threading.Condition(self._lock)  # a leaving one is gone
        self._served: dict[socket.socket, ClientConnection] = {}
        # Evicted or turned away, each still on its thread until it has answered.
        self._leaving: dict[socket.socket, ClientConnection] = {}

    def admit(
        self,
        sock: socket.socket,
        client: str | None = None,
        keep_waiting: Callable[[], bool] = _never,
    ) -> ClientConnection | None:
        """A place for a new connection from `client` (the address its place counts for,
        None for none), or None when it must be closed unanswered.

        Evicting a connection, or turning the new one away, takes a spare thread. While
        every one is taken, this waits for one as long as `keep_waiting()` (asked every
        `WAIT_SLICE_SECONDS`) says to; once it says not to, the answer is None.
        """
        limits, client = self.limits, share_holder(client)
        with self._lock:
            while True:
                spare = len(self._leaving) < SPARE_THREADS
                if spare and len(self._held_by(client)) >= limits.max_per_client:
                    self._give_up(self._eviction_candidate(self._held_by(client)), share=True)
                elif spare and len(self._served) >= limits.max_connections:
                    self._give_up(self._eviction_candidate(self._served.values()))
                over_share = len(self._held_by(client)) >= limits.max_per_client
                if len(self._served) < limits.max_connections and not over_share:
                    self._served[sock] = ClientConnection(sock, limits, self._lock, client)
                    return self._served[sock]
                if spare:
                    turned_away = ClientConnection(
                        sock, limits.for_turning_away(), self._lock, client
                    )
                    turned_away.turned_away, turned_away.over_share = True, over_share
                    self._leaving[sock] = turned_away
                    return turned_away
                if not keep_waiting():
                    return None
                self._spare_freed.wait(WAIT_SLICE_SECONDS)

    def attribute(self, connection: ClientConnection, client: str) -> bool:
        """Count `connection`'s place for `client` until its current request is answered:
        a trusted proxy's connection, forwarding that client's request.

        False when `client` holds its share already and none of its connections is
        waiting for it (to give up its place as in `admit`): the request is refused.
        """
        client = share_holder(client) or client
        with self._lock:
            others = [c for c in self._held_by(client) if c is not connection]
            if len(others) >= self.limits.max_per_client:
                victim = None
                if len(self._leaving) < SPARE_THREADS:
                    victim = self._eviction_candidate(others)
                if victim is None:
                    return False
                self._give_up(victim, share=True)
            connection.client = client
            return True

    def _held_by(self, client: str | None) -> list[ClientConnection]:
        """The served connections whose places count for `client` (none for None)."""
        if client is None:
            return []
        return [c for c in self._served.values() if c.client == client]

    def _give_up(self, victim: ClientConnection | None, *, share: bool = False) -> None:
        """Evict `victim` (if any) from its place; it stays on its thread until it has answered.

        `share`: its address holds its share, and a new connection of the same address
        takes the place; a request it sent is refused in the share's words, not the cap's.
        """
        if victim is not None:
            victim.over_share = share
            victim.evict()
            self._leaving[victim.sock] = self._served.pop(victim.sock)

    def _eviction_candidate(
        self, connections: Iterable[ClientConnection]
    ) -> ClientConnection | None:
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

        return min((c for c in connections if not c.working), key=order, default=None)

    def stop_waiting(self) -> int:
        """The server is stopping: every connection not busy with a request gives up its
        place, as an evicted one does (its thread wakes from `recv`, and a client that
        sent part of a request is answered 503). How many are busy, left to finish."""
        with self._lock:
            for waiting in [c for c in self._served.values() if not c.working]:
                self._give_up(waiting)
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
            if self._leaving.pop(sock, None) is not None:
                self._spare_freed.notify()


class DeadlineReader(io.RawIOBase):
    """The socket's reading side, each read bounded by the connection's current deadline.

    A socket timeout bounds one `recv`; this bounds the whole step, so a client that
    sends a byte now and then cannot stretch it. The socket is non-blocking (see
    `wait_for`): what has arrived is read at once, and only an empty socket is waited on.
    """

    def __init__(self, client: ClientConnection) -> None:
        super().__init__()
        self._client = client

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Raises `ClientTooSlow`, `ConnectionEvicted` or `HeadTooLarge`."""
        client = self._client
        if client.deadline <= time.monotonic():
            raise ClientTooSlow
        client.start_recv()
        try:
            while True:
                try:
                    count = client.sock.recv_into(buffer)
                    break
                except BlockingIOError:
                    if not wait_for(client.sock, select.POLLIN, client.deadline):
                        raise ClientTooSlow from None
        finally:
            evicted = client.end_recv()
        if count:  # counted even when evicted: a client that sent bytes is answered 503
            client.received(count)
        if evicted:
            raise ConnectionEvicted
        return count


class DeadlineWriter(io.BufferedIOBase):
    """The socket's writing side; each answer must be taken within the send timeout."""

    def __init__(self, client: ClientConnection) -> None:
        super().__init__()
        self._client = client

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        """Send all of `data` within what remains of the answer's send timeout, which
        starts with the answer's first write. Raises `TimeoutError` when the client does
        not take it in time."""
        client = self._client
        now = time.monotonic()
        if client.send_deadline is None:
            client.send_deadline = now + client.limits.send_timeout
        if client.send_deadline <= now:
            raise TimeoutError
        sock = client.sock
        with memoryview(data) as view:
            sent = 0
            while sent < view.nbytes:
                try:
                    sent += sock.send(view[sent:])
                except BlockingIOError:
                    if not wait_for(sock, select.POLLOUT, client.send_deadline):
                        raise TimeoutError("the client did not take the answer in time") from None
            return sent


def wait_for(sock: socket.socket, event: int, deadline: float) -> bool:
    """Wait until `sock` is ready for `event` (POLLIN, POLLOUT), at most until `deadline`.

    Connections are non-blocking: a read or write is tried first (one system call, and
    no wait when the bytes or the room are already there) and only then waited for,
    where a socket timeout would poll before every call and set the timeout each time.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False
    poller = select.poll()
    poller.register(sock, event)
    return bool(poller.poll(math.ceil(remaining * 1000)))
