"""Under `make run` (the launcher, no API Gateway in front) links carry no prefix: the
path the request came on is the route itself. (Behind API Gateway: tests/deploy/.)"""

from __future__ import annotations

import requests

from harness.server_process import Server
from tests.helpers import example_ticket


def test_location_next_link_and_the_openapi_server_have_no_prefix(fresh_server: Server) -> None:
    session = requests.Session()
    base = fresh_server.url
    ids = []
    for priority in (1, 2, 3):
        created = session.post(
            f"{base}/api/v1/tickets", json=example_ticket(priority=priority), timeout=30
        )
        assert created.headers["Location"] == f"/api/v1/tickets/{created.json()['id']}"
        assert session.get(base + created.headers["Location"], timeout=30).json() == created.json()
        ids.append(created.json()["id"])
    seen = []
    url: str | None = "/api/v1/tickets?limit=2"
    while url is not None:
        assert url.startswith("/api/v1/tickets?")
        page = session.get(base + url, timeout=30)
        seen += [t["id"] for t in page.json()["tickets"]]
        url = page.json()["next"]
        assert page.headers.get("Link") == (f'<{url}>; rel="next"' if url else None)
    assert seen == list(reversed(ids))
    document = session.get(f"{base}/api/v1/openapi.json", timeout=30).json()
    assert document["servers"] == [{"url": "/"}]
