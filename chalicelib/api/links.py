"""Links the API gives out (`Location`, `next`, `Link`, the OpenAPI server), as the client
must follow them: behind whatever path prefix the request came through.

Under `make run` and behind a custom domain mapped at its root there is none. Behind API
Gateway's own URL the stage comes first (`https://…/api/api/v1/tickets`, stage `api`), and
a custom domain's base path mapping puts its own prefix there (`https://host/tr/api/v1/…`).
API Gateway's `requestContext.path` is the path as the client sent it, prefix included;
the matched route (`requestContext.resourcePath`) is the rest.
"""

from __future__ import annotations


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def base_path(request_path: str, route: str) -> str:
    """The prefix in front of `route` in `request_path`: '' when there is none, else
    '/stage' or '/base/path', never with a trailing slash.

    `route` is the matched route template (`/api/v1/tickets/{ticket_id}`), one request
    segment per template segment, so the prefix is whatever comes before that many
    segments. Anything that does not line up (a literal segment differs) means no prefix:
    a link without one is right under `make run` and at a domain's root.
    """
    requested, template = _segments(request_path), _segments(route)
    if len(requested) < len(template):
        return ""
    cut = len(requested) - len(template)
    head, tail = requested[:cut], requested[cut:]
    for given, expected in zip(tail, template, strict=True):
        if not (expected.startswith("{") or given == expected):
            return ""
    return "".join(f"/{segment}" for segment in head)
