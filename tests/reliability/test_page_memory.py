"""What one list request can make the real server hold: with tickets and events at the
largest sizes the API accepts, a user-role key asking for `limit=1000` gets a page of
about 1 MiB, and the server's peak RSS grows by a few MiB for it, and by a bounded amount
for 16 such requests at once (issue 19: 295 -> 973 MB for one, 3.1 GB for six).

It measures memory, never time. The figures it measured are printed at the end of the
pytest run; docs/reliability.md states them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
import requests

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from chalicelib.paging import MAX_PAGE_BYTES
from chalicelib.service.unit_of_work import open_storage
from chalicelib.storage import migrations
from chalicelib.tickets.model import CreateTicketRequest
from harness.server_process import Server
from tests.helpers import LARGEST_TAG, LARGEST_TEXT, largest_ticket
from tests.reliability.test_load import FIGURES

TICKETS = 200  # unbounded, one page of them, or of their events, would be 26 MiB of JSON
TICKETS_URL = f"/api/v1/tickets?tag={quote(LARGEST_TAG)}&limit=1000"
AUDIT_URL = "/api/v1/audit?limit=1000"
AT_ONCE = 16
# Generous bounds on the server's peak RSS growth. The pages are 1 MiB each; before they
# were bounded in bytes, one request of each kind here grew the server by 146 and 192 MiB.
ONE_REQUEST_MIB = 32
AT_ONCE_MIB = 256
PATIENCE = 120  # seconds a request may take on a crowded machine; not a measurement


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """A server over `TICKETS` of alice's tickets at the largest sizes, every other one
    failed with the longest error, and alice's key (role user)."""
    db_path = tmp_path_factory.mktemp("page-memory") / "torrentino.db"
    migrations.migrate(db_path)
    _, key = create_key(db_path, "alice", Role.USER)
    with open_storage(db_path) as storage:
        for number in range(TICKETS):
            body = CreateTicketRequest.model_validate(largest_ticket(number))
            ticket = storage.tickets.create(body, created_by="alice")
            if number % 2:
                storage.tickets.fail(ticket.id, error=LARGEST_TEXT, actor="root")
    with Server(db_path) as server:
        for url in (TICKETS_URL, AUDIT_URL):  # the routes' code loaded, on small pages
            small = requests.get(
                server.url + url.replace("limit=1000", "limit=1"),
                headers={"X-Api-Key": key},
                timeout=PATIENCE,
            )
            assert small.status_code == 200
        yield server, key


def peak_growth_mib(server: Server, key: str, urls: list[str]) -> tuple[float, list[int]]:
    """How far the server's RSS peaked above where it stood while it answered `urls`, all
    sent at once; and the size of each answer."""
    rss, _ = server.memory_mb()
    server.reset_peak_memory()
    start = threading.Barrier(len(urls))

    def fetch(url: str) -> int:
        start.wait()
        response = requests.get(server.url + url, headers={"X-Api-Key": key}, timeout=PATIENCE)
        assert response.status_code == 200, response.text[:200]
        assert response.json()["next"] is not None  # a page of many: the bound stopped it
        return len(response.content)

    with ThreadPoolExecutor(len(urls)) as pool:
        sizes = list(pool.map(fetch, urls))
    _, peak = server.memory_mb()
    return peak - rss, sizes


def test_one_request_for_a_page_of_the_largest_items_costs_a_few_mib(
    crowded: tuple[Server, str],
) -> None:
    server, key = crowded
    for url in (TICKETS_URL, AUDIT_URL):
        growth, (size,) = peak_growth_mib(server, key, [url])
        FIGURES.append(
            f"one page of the largest {url.split('?')[0]} items: {size / 2**20:.2f} MiB"
            f" answered, server peak RSS +{growth:.1f} MiB"
        )
        assert size <= MAX_PAGE_BYTES + len(url) + 1000
        assert growth < ONE_REQUEST_MIB, (url, growth)


def test_sixteen_requests_at_once_stay_within_a_bound(crowded: tuple[Server, str]) -> None:
    server, key = crowded
    urls = [TICKETS_URL, AUDIT_URL] * (AT_ONCE // 2)
    growth, sizes = peak_growth_mib(server, key, urls)
    FIGURES.append(
        f"{AT_ONCE} pages of the largest items at once: {sum(sizes) / 2**20:.1f} MiB"
        f" answered, server peak RSS +{growth:.1f} MiB (RSS now {server.memory_mb()[0]:.0f} MiB)"
    )
    assert all(size <= MAX_PAGE_BYTES + 2000 for size in sizes)
    assert growth < AT_ONCE_MIB, growth
