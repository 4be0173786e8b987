"""Behind a trusted reverse proxy (`TORRENTINO_TRUSTED_PROXIES`), through Chalice's test
client, whose every request comes from 127.0.0.1: the links carry the proxy's prefix,
open mode goes by the client the proxy names, and the other-site check by the URL the
client used. Without the setting the same headers change nothing. (A real Caddy in
front of the real server: tests/proxy.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.keys.identity import FIRST_KEY_NEEDED
from chalicelib.settings import TRUSTED_PROXIES_VARIABLE
from tests.handler.conftest import Api
from tests.helpers import example_ticket, row_counts

HOST = "127.0.0.1:8080"  # the proxy connects to torrentino here
FROM_THIS_MACHINE = {"Host": HOST, "X-Forwarded-For": "127.0.0.1"}
MOUNTED = {
    **FROM_THIS_MACHINE,
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "localhost:8443",
    "X-Forwarded-Prefix": "/torrentino",
}


@pytest.fixture
def trusting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TRUSTED_PROXIES_VARIABLE, "127.0.0.1")


@pytest.mark.usefixtures("trusting")
def test_every_link_carries_the_proxys_prefix(api: Api) -> None:
    made = []
    for priority in (1, 2):
        status, ticket, headers = api.call(
            "POST", "/api/v1/tickets", example_ticket(priority=priority), headers=MOUNTED
        )
        assert status == 201
        assert headers["Location"] == f"/torrentino/api/v1/tickets/{ticket['id']}"
        made.append(ticket["id"])
    _, page, headers = api.call("GET", "/api/v1/tickets?limit=1", headers=MOUNTED)
    assert page["next"] == f"/torrentino/api/v1/tickets?limit=1&after={made[1]}"
    assert headers["Link"] == f'<{page["next"]}>; rel="next"'
    _, events, _ = api.call("GET", "/api/v1/audit?limit=1", headers=MOUNTED)
    assert events["next"].startswith("/torrentino/api/v1/audit?limit=1&after=")
    _, document, _ = api.call("GET", "/api/v1/openapi.json", headers=MOUNTED)
    assert document["servers"] == [{"url": "/torrentino/"}]


def test_without_the_setting_the_same_headers_change_nothing(api: Api) -> None:
    status, ticket, headers = api.call("POST", "/api/v1/tickets", example_ticket(), headers=MOUNTED)
    assert status == 201
    assert headers["Location"] == f"/api/v1/tickets/{ticket['id']}"
    plain = api.client.http.get("/api/v1/openapi.json").body
    proxied = api.client.http.get("/api/v1/openapi.json", headers=MOUNTED).body
    assert plain == proxied  # byte for byte
    assert json.loads(plain)["servers"] == [{"url": "/"}]


@pytest.mark.usefixtures("trusting")
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": HOST}, 401),  # from the proxy, naming no client: remote
        ({"Host": HOST, "X-Forwarded-For": "192.0.2.9"}, 401),  # the LAN, through the proxy
        ({"Host": HOST, "Forwarded": "for=192.0.2.9"}, 401),
        ({"Host": HOST, "X-Forwarded-For": "192.0.2.9, 127.0.0.1"}, 401),  # a proxy chain
        (FROM_THIS_MACHINE, 201),  # a browser on the proxy's own machine
        ({"Host": HOST, "Forwarded": 'for="127.0.0.1:50312"'}, 201),
        # This machine, under a name that is not its own (DNS rebinding), is refused.
        ({**FROM_THIS_MACHINE, "X-Forwarded-Host": "evil.example"}, 401),
    ],
)
def test_open_mode_goes_by_the_client_the_proxy_names(
    api: Api, handler_db: Path, headers: dict[str, str], status: int
) -> None:
    before = row_counts(handler_db)
    answered, payload, _ = api.call("POST", "/api/v1/tickets", example_ticket(), headers=headers)
    assert answered == status, payload
    if status == 401:
        assert payload["error"]["message"] == FIRST_KEY_NEEDED
        assert row_counts(handler_db) == before
    else:
        assert payload["created_by"] == "anonymous"


@pytest.mark.usefixtures("trusting")
@pytest.mark.parametrize(
    ("page_origin", "status"),
    [
        ("https://localhost:8443", 201),  # the page, as the client loaded it
        ("http://localhost:8443", 403),  # another scheme: another origin
        ("http://127.0.0.1:8080", 403),  # the address between proxy and server
    ],
)
def test_the_other_site_check_uses_the_url_the_client_used(
    api: Api, page_origin: str, status: int
) -> None:
    headers = {**MOUNTED, "Origin": page_origin, "Sec-Fetch-Site": "same-origin"}
    answered, payload, _ = api.call("POST", "/api/v1/tickets", example_ticket(), headers=headers)
    assert answered == status, payload


@pytest.mark.usefixtures("trusting")
@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Forwarded-Prefix", "../torrentino"),
        ("X-Forwarded-Proto", "javascript"),
        ("X-Forwarded-Host", "evil.example/x"),
    ],
)
def test_a_malformed_header_from_a_trusted_proxy_is_a_400_naming_it(
    api: Api, handler_db: Path, header: str, value: str
) -> None:
    before = row_counts(handler_db)
    headers = {**FROM_THIS_MACHINE, header: value}
    status, payload, _ = api.call("POST", "/api/v1/tickets", example_ticket(), headers=headers)
    assert (status, payload["error"]["code"]) == (400, "invalid_input")
    assert payload["error"]["details"][0]["field"] == header
    assert row_counts(handler_db) == before


def test_a_setting_that_names_no_address_answers_500(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TRUSTED_PROXIES_VARIABLE, "my-proxy")
    status, payload, _ = api.call("GET", "/api/v1/tickets", headers=FROM_THIS_MACHINE)
    assert (status, payload["error"]["code"]) == (500, "internal_error")
