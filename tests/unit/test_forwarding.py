"""Who the client is and which URL it used, from a trusted proxy's forwarding headers
(`chalicelib/api/forwarding.py`), and the setting that names the proxies."""

from __future__ import annotations

import ipaddress

import pytest

from chalicelib import settings
from chalicelib.api.forwarding import ExternalUrl, client_address, external_url
from chalicelib.errors import InvalidInput

PROXY = "127.0.0.1"
TRUSTED = tuple(ipaddress.ip_network(n) for n in ("127.0.0.1", "::1", "172.16.0.0/12"))
CLIENT = "198.51.100.7"


@pytest.mark.parametrize(
    ("headers", "client"),
    [
        ({}, None),  # a trusted proxy that names no client: remote
        ({"x-forwarded-for": CLIENT}, CLIENT),
        ({"x-forwarded-for": f"127.0.0.1, {CLIENT}"}, CLIENT),  # the left: the client's say
        ({"x-forwarded-for": f"203.0.113.9,{CLIENT} , 172.16.0.3"}, CLIENT),  # two proxies
        ({"x-forwarded-for": "127.0.0.1"}, "127.0.0.1"),  # a browser on the proxy's machine
        ({"x-forwarded-for": "172.16.0.3, 127.0.0.1"}, "172.16.0.3"),  # every hop a proxy
        ({"x-forwarded-for": "unknown"}, None),
        ({"x-forwarded-for": f"{CLIENT}, unknown"}, None),  # the hop nearest us is unknown
        ({"x-forwarded-for": f"garbage, {CLIENT}"}, CLIENT),
        ({"x-forwarded-for": ""}, None),
        ({"x-forwarded-for": f"{CLIENT}:5123"}, CLIENT),
        ({"x-forwarded-for": "[2001:db8::1]:4711"}, "2001:db8::1"),
        ({"x-forwarded-for": f"::ffff:{CLIENT}"}, CLIENT),
        ({"forwarded": f"for={CLIENT};proto=https;host=media.example"}, CLIENT),
        ({"forwarded": 'for="[2001:db8:cafe::17]:4711"'}, "2001:db8:cafe::17"),
        ({"forwarded": f'for=127.0.0.1, For="{CLIENT}";by=127.0.0.1'}, CLIENT),
        ({"forwarded": "for=unknown"}, None),
        ({"forwarded": "for=_hidden"}, None),
        ({"forwarded": 'for="127.0.0.1,x";host="a;b", for=' + CLIENT}, CLIENT),  # quoted , ;
        ({"forwarded": "proto=https"}, None),  # names no client
        ({"forwarded": f"for={CLIENT}", "x-forwarded-for": CLIENT}, CLIENT),  # they agree
        # A client's own Forwarded passed on beside the proxy's X-Forwarded-For: who knows.
        ({"forwarded": "for=127.0.0.1", "x-forwarded-for": CLIENT}, None),
    ],
)
def test_a_trusted_proxys_headers_name_the_client(
    headers: dict[str, str], client: str | None
) -> None:
    assert client_address(PROXY, headers, TRUSTED) == client


@pytest.mark.parametrize("peer", [PROXY, "::1", "172.20.1.2", "::ffff:127.0.0.1"])
def test_each_trusted_address_and_range_is_a_proxy(peer: str) -> None:
    assert client_address(peer, {"x-forwarded-for": CLIENT}, TRUSTED) == CLIENT


FORGED = {
    "x-forwarded-for": "127.0.0.1",
    "forwarded": "for=127.0.0.1;proto=https;host=localhost",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "localhost",
    "x-forwarded-prefix": "/evil",
    "host": "192.0.2.1:8080",
}


@pytest.mark.parametrize("trusted", [TRUSTED, ()], ids=["not among them", "none trusted"])
def test_from_any_other_peer_the_headers_are_ignored(
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
) -> None:
    assert client_address("192.0.2.50", FORGED, trusted) == "192.0.2.50"
    assert external_url("192.0.2.50", FORGED, trusted) == ExternalUrl(None, "192.0.2.1:8080", "")
    # Not even malformed ones are looked at.
    malformed = {**FORGED, "x-forwarded-proto": "gopher", "x-forwarded-prefix": "../x"}
    assert external_url("192.0.2.50", malformed, trusted).prefix == ""


@pytest.mark.parametrize(
    ("headers", "url"),
    [
        ({"host": "127.0.0.1:8080"}, ExternalUrl(None, "127.0.0.1:8080", "")),
        (
            {
                "host": "media.example",
                "x-forwarded-proto": "https",
                "x-forwarded-host": "media.example",
                "x-forwarded-prefix": "/torrentino/",
            },
            ExternalUrl("https", "media.example", "/torrentino"),
        ),
        (
            {"host": "127.0.0.1:8080", "forwarded": "for=192.0.2.1;proto=HTTPS;host=m.example"},
            ExternalUrl("https", "m.example", ""),
        ),
        (
            {"x-forwarded-host": "[::1]:8443", "x-forwarded-prefix": "/"},
            ExternalUrl(None, "[::1]:8443", ""),
        ),
        ({"x-forwarded-prefix": "/apps/torrentino"}, ExternalUrl(None, None, "/apps/torrentino")),
        ({"x-forwarded-prefix": "/a%20b/c"}, ExternalUrl(None, None, "/a%20b/c")),
        # Two headers that disagree: neither is believed.
        (
            {"host": "h", "x-forwarded-proto": "https", "forwarded": "proto=http"},
            ExternalUrl(None, "h", ""),
        ),
    ],
)
def test_a_trusted_proxys_headers_give_the_url_the_client_used(
    headers: dict[str, str], url: ExternalUrl
) -> None:
    assert external_url(PROXY, headers, TRUSTED) == url


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"x-forwarded-proto": "javascript"}, "X-Forwarded-Proto"),
        ({"forwarded": "proto=ftp"}, "Forwarded"),
        ({"x-forwarded-host": "evil.example/path"}, "X-Forwarded-Host"),
        ({"x-forwarded-host": "a b"}, "X-Forwarded-Host"),
        ({"forwarded": 'host="a\\"b"'}, "Forwarded"),
        ({"x-forwarded-prefix": "torrentino"}, "X-Forwarded-Prefix"),
        ({"x-forwarded-prefix": "/a/../b"}, "X-Forwarded-Prefix"),
        ({"x-forwarded-prefix": "//evil.example"}, "X-Forwarded-Prefix"),
        ({"x-forwarded-prefix": "/a>; rel=x"}, "X-Forwarded-Prefix"),
        ({"x-forwarded-prefix": "/a\r\nX-Injected: 1"}, "X-Forwarded-Prefix"),
        ({"x-forwarded-prefix": "/a?b"}, "X-Forwarded-Prefix"),
    ],
)
def test_a_malformed_value_from_a_trusted_proxy_is_refused_naming_the_header(
    headers: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        external_url(PROXY, headers, TRUSTED)
    assert raised.value.field == field


def test_the_setting_takes_addresses_and_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.TRUSTED_PROXIES_VARIABLE, raising=False)
    assert settings.trusted_proxies() == ()
    monkeypatch.setenv(settings.TRUSTED_PROXIES_VARIABLE, " 127.0.0.1, ::1 10.1.2.3/8,")
    assert settings.trusted_proxies() == tuple(
        ipaddress.ip_network(n) for n in ("127.0.0.1/32", "::1/128", "10.0.0.0/8")
    )


@pytest.mark.parametrize("entry", ["localhost", "10.0.0.0/33", "127.0.0.1:8080", "*"])
def test_an_entry_that_is_neither_is_refused(entry: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.TRUSTED_PROXIES_VARIABLE, f"127.0.0.1, {entry}")
    with pytest.raises(ValueError, match="is neither an IP address nor a CIDR range") as raised:
        settings.trusted_proxies()
    assert f"TORRENTINO_TRUSTED_PROXIES: {entry!r}" in str(raised.value)
