"""Receivers of notifications on this machine, for the tests: an HTTP server that answers
as a test tells it (statuses in turn, slowly, a huge body, a redirect) and keeps every
request, and an SMTP server (aiosmtpd) that keeps every message."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from standardwebhooks import Webhook

from harness.server_process import free_port


@dataclass
class Received:
    """One request a receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, unverified."""
        return json.loads(self.body)

    def verify(self, secret: str) -> Any:
        """The body, verified with `standardwebhooks` as a receiver would (raises if the
        signature or its headers are wrong)."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Behaviour:
    """How the receiver answers: `statuses` in turn (the last one from then on), after
    `delay` seconds, with `body` (or `body_size` bytes) and any `headers`."""

    statuses: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    body: bytes = b"ok"
    body_size: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every request and answers per its
    `behaviour`, which a test may change at any time."""

    def __init__(self, behaviour: Behaviour | None = None, port: int | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.requests: list[Received] = []
        self.write_errors: list[str] = []
        self.lock = threading.Lock()
        self.answered = 0
        self.port = port or free_port()
        self.server: http.server.ThreadingHTTPServer | None = None

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver.handle(self)

            do_PUT = do_GET = do_DELETE = do_PATCH = do_POST

            def log_message(self, *args: Any) -> None:
                del args

        return Handler

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, request: http.server.BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("content-length") or 0)
        body = request.rfile.read(length)
        headers = {name.lower(): value for name, value in request.headers.items()}
        with self.lock:
            self.requests.append(Received(request.command, request.path, headers, body))
            behaviour = self.behaviour
            status = behaviour.statuses[min(self.answered, len(behaviour.statuses) - 1)]
            self.answered += 1
        time.sleep(behaviour.delay)
        payload = behaviour.body if behaviour.body_size is None else b"x" * behaviour.body_size
        try:
            request.send_response(status)
            for name, value in behaviour.headers.items():
                request.send_header(name, value)
            request.send_header("Content-Length", str(len(payload)))
            request.send_header("Connection", "close")
            request.end_headers()
            request.wfile.write(payload)
        except OSError as error:  # the client stopped reading: what a bounded read does
            with self.lock:
                self.write_errors.append(type(error).__name__)
        request.close_connection = True

    def start(self) -> Receiver:
        """Listen on its port (until then, a connection to it is refused)."""
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def wait_until_write_fails(self, timeout: float = 30.0) -> list[str]:
        """The errors of the answers it could not finish sending, once there is one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.write_errors:
            time.sleep(0.05)
        return list(self.write_errors)

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        """The requests once there are at least `count` (fails after `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.requests)} requests arrived, not {count}")


@contextmanager
def receiver(behaviour: Behaviour | None = None) -> Iterator[Receiver]:
    """A running `Receiver`, stopped afterwards."""
    running = Receiver(behaviour).start()
    try:
        yield running
    finally:
        running.stop()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        del server, session
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[Message]]]:
    """An SMTP server on 127.0.0.1 (aiosmtpd): its port and the messages it receives."""
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, mailbox.messages
    finally:
        controller.stop()
