"""In open mode, a change a browser sends for another site's page is refused (403), and
writes nothing; reads, this site's own page, and callers with a key are served."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from tests.handler.conftest import Api
from tests.helpers import example_ticket, row_counts

HOST = "localhost:8080"


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
        {"Origin": "http://localhost:9999"},
        {"Origin": "null"},
    ],
)
def test_another_sites_page_cannot_change_anything(
    api: Api, handler_db: Path, headers: dict[str, str]
) -> None:
    before = row_counts(handler_db)
    status, payload, _ = api.call(
        "POST", "/api/v1/tickets", example_ticket(), headers={"Host": HOST, **headers}
    )
    assert status == 403, payload
    assert payload["error"]["code"] == "forbidden"
    status, payload, _ = api.call("POST", "/api/v1/backups", headers={"Host": HOST, **headers})
    assert status == 403, payload
    assert row_counts(handler_db) == before


def test_reads_and_this_sites_own_page_are_served(api: Api) -> None:
    cross = {"Host": HOST, "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert api.call("GET", "/api/v1/tickets", headers=cross)[0] == 200
    own = {"Host": HOST, "Origin": f"http://{HOST}", "Sec-Fetch-Site": "same-origin"}
    assert api.call("POST", "/api/v1/tickets", example_ticket(), headers=own)[0] == 201
    assert api.call("POST", "/api/v1/tickets", example_ticket(), headers={"Host": HOST})[0] == 201


def test_with_keys_the_check_is_not_needed(api: Api, handler_db: Path) -> None:
    # Another site's page has no key to send; a client with one may call from anywhere.
    _, key = create_key(handler_db, "alice", Role.USER)
    headers = {"Host": HOST, "Origin": "http://elsewhere.example", "X-Api-Key": key}
    assert api.call("POST", "/api/v1/tickets", example_ticket(), headers=headers)[0] == 201
