"""Attacks on key management and destinations over HTTP (chalice.test.Client, whose every
request comes from 127.0.0.1): the first key stays this machine's to make, and a
destination's name is a label that carries no control characters."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.destinations.store import list_destinations
from chalicelib.keys.store import list_keys
from chalicelib.settings import OPEN_TO_NETWORK_VARIABLE, TRUSTED_PROXIES_VARIABLE
from chalicelib.storage import db
from tests.handler.conftest import Api
from tests.helpers import row_counts

FIRST_KEY = {"user": "mallory", "role": "admin"}


@pytest.fixture
def open_to_network_behind_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """TORRENTINO_OPEN_TO_NETWORK on, behind a proxy on this machine that forwards callers
    from the network (the test client's requests all come from 127.0.0.1)."""
    monkeypatch.setenv(OPEN_TO_NETWORK_VARIABLE, "1")
    monkeypatch.setenv(TRUSTED_PROXIES_VARIABLE, "127.0.0.1")


@pytest.mark.usefixtures("open_to_network_behind_a_proxy")
@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-For": "192.168.1.23", "Host": "localhost:8080"},  # a phone on the LAN
        {"X-Forwarded-For": "127.0.0.1", "Host": "media.example"},  # a name not this machine's
    ],
)
def test_open_to_the_network_another_machine_may_not_make_the_first_key(
    api: Api, handler_db: Path, headers: dict[str, str]
) -> None:
    # Open to the network, every caller is the anonymous admin and may use the service;
    # but the first key would end open mode for everyone else, this machine included.
    assert api.call("GET", "/api/v1/me", headers=headers)[1]["open_mode"] is True
    before = row_counts(handler_db)
    status, error, _ = api.call("POST", "/api/v1/keys", FIRST_KEY, headers=headers)
    assert status == 403, error
    assert error["error"]["code"] == "forbidden"
    assert "make keys" in error["error"]["message"]
    assert list_keys(handler_db) == []
    assert row_counts(handler_db) == before
    assert api.call("GET", "/api/v1/me", headers=headers)[1]["open_mode"] is True


@pytest.mark.usefixtures("open_to_network_behind_a_proxy")
def test_open_to_the_network_this_machine_still_makes_the_first_key(api: Api) -> None:
    this_machine = {"X-Forwarded-For": "127.0.0.1", "Host": "localhost:8080"}
    status, created, _ = api.call("POST", "/api/v1/keys", FIRST_KEY, headers=this_machine)
    assert status == 201, created
    assert api.call("GET", "/api/v1/me", headers=this_machine)[0] == 401


@pytest.mark.parametrize(
    "name",
    [
        "Movies\x1b]0;owned\x07\x1b[2J",  # a terminal's title and a cleared screen
        "Movies\x00",
        "Mo\x7fvies",
        "Movies\x9b31m",  # C1: the one-byte CSI
    ],
)
def test_a_destination_name_with_control_characters_is_refused(
    api: Api, handler_db: Path, name: str
) -> None:
    # `make destinations ARGS=list` prints names to the admin's terminal as they are.
    before = row_counts(handler_db)
    status, error, _ = api.call("POST", "/api/v1/destinations", {"name": name, "root": "/media/x"})
    assert status == 400, error
    assert error["error"]["details"][0]["field"] == "name"
    assert row_counts(handler_db) == before
    with db.connect(handler_db) as conn:
        assert list_destinations(conn) == []


def test_whitespace_in_a_destination_name_is_still_folded(api: Api) -> None:
    status, added, _ = api.call(
        "POST", "/api/v1/destinations", {"name": " Kids\tmovies\n", "root": "/media/kids"}
    )
    assert status == 201, added
    assert added["name"] == "Kids movies"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "localhost:8080", "Sec-Fetch-Site": "cross-site"}, 403),
        ({"Host": "localhost:8080", "Origin": "http://evil.example"}, 403),
        ({"Host": "evil.example:8080"}, 401),  # a page that rebinds its name to 127.0.0.1
    ],
)
def test_another_sites_page_may_not_make_the_first_key(
    api: Api, handler_db: Path, headers: dict[str, str], status: int
) -> None:
    answer, error, _ = api.call("POST", "/api/v1/keys", FIRST_KEY, headers=headers)
    assert answer == status, error
    assert list_keys(handler_db) == []
