"""The launcher's connection limits, as the TORRENTINO_... settings give them."""

from __future__ import annotations

import pytest

from launcher.connection_limits import TURN_AWAY_SECONDS, ConnectionLimits

VARIABLES = {
    "header_timeout": "TORRENTINO_HEADER_TIMEOUT_MS",
    "body_timeout": "TORRENTINO_BODY_TIMEOUT_MS",
    "keepalive_timeout": "TORRENTINO_KEEPALIVE_TIMEOUT_MS",
    "send_timeout": "TORRENTINO_SEND_TIMEOUT_MS",
}


def test_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in [*VARIABLES.values(), "TORRENTINO_MAX_CONNECTIONS"]:
        monkeypatch.delenv(variable, raising=False)
    assert ConnectionLimits.from_environment() == ConnectionLimits(
        header_timeout=10.0,
        body_timeout=30.0,
        keepalive_timeout=5.0,
        send_timeout=30.0,
        max_connections=64,
    )


@pytest.mark.parametrize("limit", sorted(VARIABLES))
@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        *[("250", 0.25), ("120000", 120.0)],
        *[("0", None), ("-5", None), ("1.5", None), ("x", None), ("\u00b2", None), ("", None)],
    ],
)
def test_each_timeout_is_a_setting_in_milliseconds(
    monkeypatch: pytest.MonkeyPatch, limit: str, value: str, seconds: float | None
) -> None:
    monkeypatch.setenv(VARIABLES[limit], value)
    expected = seconds if seconds is not None else getattr(ConnectionLimits(), limit)
    assert getattr(ConnectionLimits.from_environment(), limit) == expected


@pytest.mark.parametrize(("value", "expected"), [("8", 8), ("1000", 1000), ("0", 64), ("x", 64)])
def test_the_cap_is_a_setting(monkeypatch: pytest.MonkeyPatch, value: str, expected: int) -> None:
    monkeypatch.setenv("TORRENTINO_MAX_CONNECTIONS", value)
    assert ConnectionLimits.from_environment().max_connections == expected


def test_a_connection_turned_away_gets_short_timeouts_only() -> None:
    limits = ConnectionLimits(
        header_timeout=60, body_timeout=0.5, keepalive_timeout=60, send_timeout=60
    )
    short = limits.for_turning_away()
    assert short.body_timeout == 0.5
    assert short.header_timeout == short.keepalive_timeout == short.send_timeout
    assert short.send_timeout == TURN_AWAY_SECONDS
    assert short.max_connections == limits.max_connections
