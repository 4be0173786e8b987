"""A small Python load generator, used when wrk is not installed (the smoke test, CI).

It speaks the same requests as bench/wrk.lua: N threads, each on its own keep-alive
connection (or a fresh connection per request), for a fixed time. It is slower than
wrk, so its numbers are a lower bound; `make bench` installs and uses wrk.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from dataclasses import dataclass

CREATE_BODY = (
    b'{"priority": 100, "query_context": {"tags": ["music", "flac"],'
    b' "description": "Abbey Road by The Beatles"}, "dest_path": "/media/music/beatles"}'
)
FAIL_BODY = b'{"error": "no seeders"}'


@dataclass
class Result:
    """What one run measured."""

    requests: int
    seconds: float
    p50_us: float
    p99_us: float
    socket_errors: int
    bad_status: int


# Routes whose request is always the same, and those that name a ticket (`{}`).
FIXED = {
    "health": ("GET", "/api/v1/health", None),
    "create": ("POST", "/api/v1/tickets", CREATE_BODY),
    "list": ("GET", "/api/v1/tickets?state=pending&limit=50", None),
    "audit": ("GET", "/api/v1/audit?limit=50", None),
}
READ_ONE = {"get": "/api/v1/tickets/{}", "history": "/api/v1/tickets/{}/history"}
CHANGE_ONE = {
    "cancel": ("DELETE", "/api/v1/tickets/{}", None),
    "complete": ("POST", "/api/v1/tickets/{}/complete", None),
    "fail": ("POST", "/api/v1/tickets/{}/fail", FAIL_BODY),
}


def _request(route: str, ids: list[str], cursor: list[int]) -> tuple[str, str, bytes | None]:
    if route in FIXED:
        return FIXED[route]
    if route in READ_ONE:
        return "GET", READ_ONE[route].format(random.choice(ids)), None
    # A change walks through the ids once: each is a pending ticket of its own.
    cursor[0] += 1
    ticket_id = ids[cursor[0] % len(ids)]
    if route == "edit":  # a new priority each time, so every edit changes the ticket
        return "PATCH", f"/api/v1/tickets/{ticket_id}", b'{"priority": %d}' % (cursor[0] % 65536)
    method, path, body = CHANGE_ONE[route]
    return method, path.format(ticket_id), body


def run(
    port: int, route: str, ids: list[str], *, connections: int, seconds: float, fresh: bool
) -> Result:
    """Load 127.0.0.1:`port` on `route` for `seconds` with `connections` clients."""
    latencies: list[float] = []
    errors = [0, 0]
    lock = threading.Lock()
    cursor = [0]
    deadline = time.monotonic() + seconds

    def client() -> None:
        mine: list[float] = []
        socket_errors = bad = 0
        conn: http.client.HTTPConnection | None = None
        while time.monotonic() < deadline:
            with lock:
                method, path, body = _request(route, ids, cursor)
            media_type = "application/merge-patch+json" if method == "PATCH" else "application/json"
            headers = {"Content-Type": media_type} if body else {}
            if fresh:
                headers["Connection"] = "close"
            start = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    bad += 1
                if fresh or response.will_close:
                    conn.close()
                    conn = None
            except OSError:
                socket_errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                continue
            mine.append(time.perf_counter() - start)
        if conn is not None:
            conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += socket_errors
            errors[1] += bad

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()

    def percentile(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6

    return Result(len(latencies), elapsed, percentile(50), percentile(99), errors[0], errors[1])
