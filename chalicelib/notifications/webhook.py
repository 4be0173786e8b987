"""Signed webhooks, as the Standard Webhooks specification says: a JSON POST with
`webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,` and the base64 HMAC-SHA256
of `id.timestamp.body` under the target's `whsec_` secret), signed by the `standardwebhooks`
package that receivers verify with.

The POST is made here on a plain socket, so that every limit holds: the connection goes to
the address the rules checked (`addresses.guarded`), connecting and each read wait only
briefly, the whole exchange has a deadline, at most `RESPONSE_LIMIT` bytes of the answer are
read, and a redirect is an answer like any other (never followed).
"""

from __future__ import annotations

import base64
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit

from standardwebhooks.webhooks import Webhook

from chalicelib import __version__
from chalicelib.notifications.addresses import AddressPolicy, guarded

SECRET_PREFIX = "whsec_"
RESPONSE_LIMIT = 16 * 1024
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 10.0
DEADLINE_SECONDS = 20.0


def new_secret() -> str:
    """A fresh signing secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signed_headers(secret: str, message_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one message (the same id on every retry)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


@dataclass(frozen=True)
class Answer:
    """What a receiver answered: its status and the start of its body."""

    status: int
    body: bytes


class ReceiverError(OSError):
    """The receiver's answer could not be read (cut short, too slow, not HTTP)."""


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    policy: AddressPolicy,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
) -> Answer:
    """POST `body` to `url` within the limits above; raises `OSError` (`AddressRefused`,
    `ReceiverError`, a timeout, a refused connection) when no answer could be had."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    deadline = time.monotonic() + DEADLINE_SECONDS
    with guarded(policy):
        sock = socket.create_connection((host, port), timeout=connect_timeout)
    try:
        if https:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        sock.settimeout(read_timeout)
        sock.sendall(_request(url, body, headers))
        return _read_answer(sock, deadline, read_timeout)
    finally:
        sock.close()


def _request(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.netloc.rpartition("@")[2]
    lines = [
        f"POST {target} HTTP/1.1",
        f"Host: {host}",
        f"User-Agent: torrentino/{__version__}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        lines.append(f"Authorization: Basic {base64.b64encode(pair).decode('ascii')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def _read_answer(sock: socket.socket, deadline: float, read_timeout: float) -> Answer:
    received = b""
    while b"\r\n\r\n" not in received and len(received) < RESPONSE_LIMIT:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ReceiverError("the receiver took too long to answer")
        sock.settimeout(min(read_timeout, left))
        chunk = sock.recv(RESPONSE_LIMIT - len(received))
        if not chunk:
            break
        received += chunk
    status_line = received.split(b"\r\n", 1)[0].decode("latin-1")
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise ReceiverError("the receiver's answer is not HTTP" if received else "no answer")
    return Answer(status=int(fields[1]), body=received.partition(b"\r\n\r\n")[2])
