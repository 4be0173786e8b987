"""Open mode (no API key exists yet) is for this machine only: the rule in `resolve_identity`.

The same rule over real sockets from another network namespace: tests/network/test_open_mode.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.errors import Unauthenticated
from chalicelib.keys.identity import ANONYMOUS, Identity, Role, resolve_identity
from chalicelib.keys.store import create_key
from chalicelib.storage import db
from tests.helpers import row_counts

FIRST_KEY_COMMAND = 'make keys ARGS="create <name> --role admin"'
LOOPBACK = ["127.0.0.1", "127.4.5.6", "::1", "::ffff:127.0.0.1"]
ELSEWHERE = ["192.0.2.7", "10.0.0.5", "0.0.0.0", "2001:db8::1", "::ffff:192.0.2.7", "fe80::1%eth0"]
NOT_AN_ADDRESS: list[str | None] = [None, "", "localhost", "127.0.0.1, 192.0.2.7"]


def resolve(path: Path, source_ip: str | None, headers: dict[str, str] | None = None) -> Identity:
    with db.connect(path) as conn:
        return resolve_identity(conn, headers or {}, source_ip)


@pytest.fixture(autouse=True)
def not_opened_to_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORRENTINO_OPEN_TO_NETWORK", raising=False)


@pytest.mark.parametrize("source_ip", LOOPBACK)
def test_this_machine_is_anonymous_admin_while_no_key_exists(db_path: Path, source_ip: str) -> None:
    assert resolve(db_path, source_ip) == ANONYMOUS


@pytest.mark.parametrize("source_ip", [*ELSEWHERE, *NOT_AN_ADDRESS])
def test_another_machine_is_told_how_to_create_the_first_key(
    db_path: Path, source_ip: str | None
) -> None:
    before = row_counts(db_path)
    with pytest.raises(Unauthenticated) as refused:
        resolve(db_path, source_ip, {"x-api-key": "anything"})
    assert FIRST_KEY_COMMAND in refused.value.message
    assert "only this machine" in refused.value.message
    assert row_counts(db_path) == before


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080", "app.localhost", None]
)
def test_this_machine_by_a_name_of_its_own_is_served(db_path: Path, host: str | None) -> None:
    headers = {} if host is None else {"host": host}
    assert resolve(db_path, "127.0.0.1", headers) == ANONYMOUS


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8080", "192.0.2.7:8080", "localhost.evil.example"]
)
def test_a_page_that_rebinds_its_name_to_this_machine_is_refused(db_path: Path, host: str) -> None:
    # DNS rebinding: the request comes from this machine's browser, under the page's name.
    with pytest.raises(Unauthenticated) as refused:
        resolve(db_path, "127.0.0.1", {"host": host})
    assert FIRST_KEY_COMMAND in refused.value.message


@pytest.mark.parametrize("source_ip", ELSEWHERE)
def test_the_setting_opens_it_to_the_network(
    db_path: Path, source_ip: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORRENTINO_OPEN_TO_NETWORK", "1")
    assert resolve(db_path, source_ip) == ANONYMOUS


@pytest.mark.parametrize("open_to_network", ["1", ""])
def test_once_a_key_exists_every_caller_needs_one_wherever_it_is(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, open_to_network: str
) -> None:
    monkeypatch.setenv("TORRENTINO_OPEN_TO_NETWORK", open_to_network)
    _, key = create_key(db_path, "alice", Role.USER)
    for source_ip in (*LOOPBACK, *ELSEWHERE):
        with pytest.raises(Unauthenticated, match="API key is required"):
            resolve(db_path, source_ip)
        alice = resolve(db_path, source_ip, {"x-api-key": key})
        assert alice == Identity(name="alice", role=Role.USER)
