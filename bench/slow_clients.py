"""Clients that hold connections without finishing their requests: for the soak and the tests.

Each kind stands for a broken or hostile client:

* `idle`: connects and sends nothing;
* `kept_alive`: sends one whole request, reads the answer, then sends nothing more;
* `dripping_head`: sends a request head one byte at a time and never ends it;
* `dripping_body`: sends a whole head announcing a large body, then the body one byte
  at a time;
* `not_reading`: pipelines requests for a 32 KB answer and never reads one.

A connection the server closes is opened again after `reconnect_delay`, so the server
is under this pressure for as long as the clients run. One thread drives them all,
so a test can hold hundreds. What the server answered each before closing it is
counted in `outcomes`, by kind: the status codes it sent, in order ("" for none).
"""

from __future__ import annotations

import re
import selectors
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

KINDS = ("idle", "kept_alive", "dripping_head", "dripping_body", "not_reading")
_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) ")
_HEAD = b"GET /api/v1/tickets HTTP/1.1\r\nHost: slow\r\n"
_BODY_HEAD = (
    b"POST /api/v1/tickets HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100000\r\n\r\n{"
)
_WHOLE = b"GET /api/v1/health HTTP/1.1\r\nHost: slow\r\n\r\n"
_LARGE = b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: slow\r\n\r\n"
_KEPT = 4096  # bytes of answers kept per connection: enough for the status lines


@dataclass
class _Client:
    kind: str
    sock: socket.socket | None = None
    received: bytes = b""
    sent: int = 0
    next_step: float = 0.0

    def to_send(self) -> bytes:
        """The next bytes this client sends at its next step."""
        if self.kind == "dripping_head":
            return (_HEAD + f"X-Drip-{self.sent}: y\r\n".encode())[self.sent : self.sent + 1]
        if self.kind == "dripping_body":
            return _BODY_HEAD if self.sent == 0 else b" "
        if self.kind == "not_reading":
            return _LARGE * 200 if self.sent == 0 else _LARGE
        if self.kind == "kept_alive" and self.sent == 0:
            return _WHOLE
        return b""


@dataclass
class SlowClients:
    """`counts[kind]` connections of each kind to `address`, held until `stop()`."""

    address: tuple[str, int]
    counts: dict[str, int]
    drip_interval: float = 0.1
    reconnect_delay: float = 0.05
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    connections_opened: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> SlowClients:
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Close every connection and stop the driving thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def outcome_counts(self) -> Counter[tuple[str, str]]:
        """A copy of `outcomes`, safe to read while the clients run."""
        with self._lock:
            return Counter(self.outcomes)

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        clients = [_Client(kind) for kind, n in self.counts.items() for _ in range(n)]
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                for client in clients:
                    if client.next_step <= now:
                        self._step(client, selector, now)
                wake = min((c.next_step for c in clients), default=now + 0.1)
                for key, _ in selector.select(timeout=max(0.0, min(wake - now, 0.1))):
                    self._read(key.data, selector)
        finally:
            for client in clients:
                self._close(client, selector, record=False)
            selector.close()

    def _step(self, client: _Client, selector: selectors.BaseSelector, now: float) -> None:
        if client.sock is None:
            self._open(client, selector)
            client.next_step = now
            return
        data = client.to_send()
        client.next_step = now + self.drip_interval
        if not data:
            return
        try:
            client.sock.send(data)
            client.sent += len(data)
        except BlockingIOError:
            pass  # a client that does not read: the server is not reading either
        except OSError:
            self._close(client, selector, record=True)

    def _open(self, client: _Client, selector: selectors.BaseSelector) -> None:
        sock = socket.socket()
        if client.kind == "not_reading":  # a small window, so the server's answers back up
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            sock.settimeout(10)
            sock.connect(self.address)
        except OSError:
            sock.close()
            client.next_step = time.monotonic() + self.reconnect_delay
            return
        sock.setblocking(False)
        client.sock, client.received, client.sent = sock, b"", 0
        with self._lock:
            self.connections_opened += 1
        if client.kind != "not_reading":
            selector.register(sock, selectors.EVENT_READ, client)

    def _read(self, client: _Client, selector: selectors.BaseSelector) -> None:
        assert client.sock is not None
        try:
            chunk = client.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close(client, selector, record=True)
            return
        client.received = (client.received + chunk)[:_KEPT]

    def _close(self, client: _Client, selector: selectors.BaseSelector, *, record: bool) -> None:
        if client.sock is None:
            return
        if client.kind != "not_reading":
            selector.unregister(client.sock)
        client.sock.close()
        client.sock = None
        client.next_step = time.monotonic() + self.reconnect_delay
        if record:
            statuses = " ".join(m.decode() for m in _STATUS.findall(client.received))
            with self._lock:
                self.outcomes[(client.kind, statuses)] += 1
