"""The launcher's route table matches every path as Chalice's own matcher does (the first
route in Chalice's order), with each route split once rather than on every request."""

from __future__ import annotations

import pytest
from chalice.local import RouteMatcher
from hypothesis import given, settings
from hypothesis import strategies as st

import app
from launcher.local_server import RouteTable

ROUTES = sorted(app.app.routes)
PATHS = [
    "/", "/api/v1/health", "/api/v1/health/", "/api/v1/tickets", "/api/v1/tickets?state=x&state=y",
    "/api/v1/tickets/abc", "/api/v1/tickets/abc/history", "/api/v1/tickets/abc/complete?x=1",
    "/api/v1/tickets//history", "/api/v1/audit?limit=&sort=newest", "/api/v1/nothing",
    "/api/v1/health;params", "/api/v1/health#fragment", "/api/v1/keys/k1", "//", "",
]  # fmt: skip


def matched(matcher: RouteMatcher, url: str) -> object:
    try:
        found = matcher.match_route(url)
    except ValueError:
        return None
    # Chalice's matcher keeps what a route that failed captured; only the route's own count.
    own = {k: v for k, v in found.captured.items() if "{" + k + "}" in found.route}
    return (found.route, own, found.query_params)


@pytest.mark.parametrize(
    "url", PATHS + [route.replace("{", "").replace("}", "") for route in ROUTES]
)
def test_every_route_and_odd_path_matches_as_chalices_matcher_does(url: str) -> None:
    assert matched(RouteTable(ROUTES), url) == matched(RouteMatcher(ROUTES), url)


SEGMENT = st.sampled_from(["api", "v1", "tickets", "audit", "keys", "history", "x", "", "%20"])


@settings(max_examples=300)
@given(st.lists(SEGMENT, max_size=6), st.sampled_from(["", "?a=1", "?a&b=", "/"]))
def test_any_path_matches_as_chalices_matcher_does(segments: list[str], tail: str) -> None:
    url = "/" + "/".join(segments) + tail
    assert matched(RouteTable(ROUTES), url) == matched(RouteMatcher(ROUTES), url)
