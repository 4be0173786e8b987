"""The prefix links carry: none under `make run` or at a custom domain's root, the stage
behind API Gateway's own URL, the base path behind a custom domain's mapping."""

from __future__ import annotations

import pytest

from chalicelib.api.links import base_path

TICKET = "/api/v1/tickets/{ticket_id}"
TICKET_ID = "0b0e6d52-3f6e-4d2b-9a4e-0a4a9b2f1c11"


@pytest.mark.parametrize(
    ("request_path", "route", "prefix"),
    [
        # make run (chalice local) and a custom domain at its root: the path is the route.
        ("/api/v1/tickets", "/api/v1/tickets", ""),
        (f"/api/v1/tickets/{TICKET_ID}", TICKET, ""),
        # API Gateway's execute-api URL: requestContext.path starts with the stage.
        ("/api/api/v1/tickets", "/api/v1/tickets", "/api"),
        (f"/prod/api/v1/tickets/{TICKET_ID}/history", f"{TICKET}/history", "/prod"),
        # A custom domain with a base path mapping (and a stage after it, when mapped so).
        ("/torrentino/api/v1/audit", "/api/v1/audit", "/torrentino"),
        ("/tr/v2/api/v1/health", "/api/v1/health", "/tr/v2"),
        # A path parameter holding anything at all is still one segment.
        ("/api/api/v1/tickets/a%20b", TICKET, "/api"),
        ("//api/v1/tickets", "/api/v1/tickets", ""),
    ],
)
def test_the_prefix_is_what_comes_before_the_route(
    request_path: str, route: str, prefix: str
) -> None:
    assert base_path(request_path, route) == prefix


@pytest.mark.parametrize(
    ("request_path", "route"),
    [
        ("", "/api/v1/tickets"),  # no requestContext.path at all
        ("/v1/tickets", "/api/v1/tickets"),  # shorter than the route
        ("/api/api/v2/tickets", "/api/v1/tickets"),  # does not line up with the route
        ("/api/api/v1/tickets/a/b", TICKET),  # a parameter that spans two segments
    ],
)
def test_a_path_that_does_not_line_up_with_the_route_gets_no_prefix(
    request_path: str, route: str
) -> None:
    assert base_path(request_path, route) == ""
