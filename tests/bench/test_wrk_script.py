"""bench/wrk.lua sends what each route's cells say it measures: every request of a fresh
run asks for its connection to be closed (`Connection: close`), and none of a keep-alive
run does, whatever headers the route adds of its own.

wrk runs for real (`make test` installs it, as `make bench` does) through
`http_bench.wrk_run`, against a server that records each request and answers it as
asked: closing the connection after a request that says so, keeping it otherwise.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench import http_bench

ID = "0b9f8d1e-5c3a-4e8b-9a7d-2f6e1c4b3a58"
# Each route of the script: its method, its path, and the body's media type (or None).
ROUTES = {
    "health": ("GET", "/api/v1/health", None),
    "create": ("POST", "/api/v1/tickets", "application/json"),
    "get": ("GET", f"/api/v1/tickets/{ID}", None),
    "list": ("GET", "/api/v1/tickets?state=pending&limit=50", None),
    "history": ("GET", f"/api/v1/tickets/{ID}/history", None),
    "audit": ("GET", "/api/v1/audit?limit=50", None),
    "edit": ("PATCH", f"/api/v1/tickets/{ID}", "application/merge-patch+json"),
    "cancel": ("DELETE", f"/api/v1/tickets/{ID}", None),
    "complete": ("POST", f"/api/v1/tickets/{ID}/complete", None),
    "fail": ("POST", f"/api/v1/tickets/{ID}/fail", "application/json"),
}


@dataclass(frozen=True)
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class Recorder:
    """An HTTP/1.1 server on a port of its own that records every request it reads."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # wrk resets what is open when its time is up
            self._answer_each(conn)

    def _answer_each(self, conn: socket.socket) -> None:
        buffered = b""
        while True:
            while b"\r\n\r\n" not in buffered:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffered += chunk
            head, _, buffered = buffered.partition(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            fields = (line.partition(":") for line in lines)
            headers = {name.strip().lower(): value.strip() for name, _, value in fields}
            length = int(headers.get("content-length", "0"))
            while len(buffered) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffered += chunk
            body, buffered = buffered[:length], buffered[length:]
            method, target, _ = request_line.split(" ")
            with self._lock:
                self.requests.append(Seen(method, target, headers, body))
            closing = headers.get("connection", "").lower() == "close"
            answer = b'{"status": "ok"}'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(answer)}\r\n".encode()
                + (b"Connection: close\r\n" if closing else b"")
                + b"\r\n"
                + answer
            )
            if closing:
                return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def recorders() -> Iterator[dict[tuple[str, bool], Recorder]]:
    made = {(route, fresh): Recorder() for route in ROUTES for fresh in (False, True)}
    yield made
    for recorder in made.values():
        recorder.close()


def test_each_route_asks_for_a_new_connection_exactly_when_its_run_is_fresh(
    recorders: dict[tuple[str, bool], Recorder], tmp_path: Path
) -> None:
    assert shutil.which("wrk"), "wrk is missing: `make test` installs it"
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(f"{ID}\n")

    def run(key: tuple[str, bool]) -> http_bench.Run:
        (route, fresh), recorder = key, recorders[key]
        url = f"http://127.0.0.1:{recorder.port}"
        return http_bench.wrk_run(url, route, ids_file, connections=2, seconds=1, fresh=fresh)

    with ThreadPoolExecutor(max_workers=len(recorders)) as pool:  # one second for all
        runs = dict(zip(recorders, pool.map(run, recorders), strict=True))
    for (route, fresh), recorder in recorders.items():
        method, target, media_type = ROUTES[route]
        assert runs[route, fresh].failures == 0, (route, fresh)
        assert runs[route, fresh].requests > 0, (route, fresh)
        assert recorder.requests, (route, fresh)
        for seen in recorder.requests:
            assert (seen.method, seen.target) == (method, target), (route, fresh)
            assert (seen.headers.get("connection") == "close") is fresh, (route, fresh, seen)
            assert seen.headers.get("content-type") == media_type, (route, fresh, seen)
            if media_type is not None:
                json.loads(seen.body)  # a whole JSON body, its length as it says
