"""bench/wrk.lua sends what each route's cells say it measures: every request of a fresh
run asks for its connection to be closed (`Connection: close`), and none of a keep-alive
run does, whatever headers the route adds of its own.

wrk runs for real (`make test` installs it, as `make bench` does) through
`http_bench.wrk_run`, against the tests' recording HTTP server (`tests.receivers`),
which closes each connection after its answer: a keep-alive run reconnects, but what
it asks for is still its own.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench import http_bench
from tests.receivers import Receiver

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


@pytest.fixture
def receivers() -> Iterator[dict[tuple[str, bool], Receiver]]:
    made = {(route, fresh): Receiver().start() for route in ROUTES for fresh in (False, True)}
    yield made
    for receiver in made.values():
        receiver.stop()


def test_each_route_asks_for_a_new_connection_exactly_when_its_run_is_fresh(
    receivers: dict[tuple[str, bool], Receiver], tmp_path: Path
) -> None:
    assert shutil.which("wrk"), "wrk is missing: `make test` installs it"
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(f"{ID}\n")

    def run(key: tuple[str, bool]) -> http_bench.Run:
        (route, fresh), receiver = key, receivers[key]
        return http_bench.wrk_run(
            receiver.url, route, ids_file, connections=2, seconds=1, fresh=fresh
        )

    with ThreadPoolExecutor(max_workers=len(receivers)) as pool:  # one second for all
        runs = dict(zip(receivers, pool.map(run, receivers), strict=True))
    for (route, fresh), receiver in receivers.items():
        method, target, media_type = ROUTES[route]
        assert runs[route, fresh].failures == 0, (route, fresh)
        assert runs[route, fresh].requests > 0, (route, fresh)
        with receiver.lock:
            received = list(receiver.requests)
        assert received, (route, fresh)
        for seen in received:
            assert (seen.method, seen.path) == (method, target), (route, fresh)
            assert (seen.headers.get("connection") == "close") is fresh, (route, fresh, seen)
            assert seen.headers.get("content-type") == media_type, (route, fresh, seen)
            if media_type is not None:
                json.loads(seen.body)  # a whole JSON body, its length as it says
