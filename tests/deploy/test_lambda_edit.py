"""An edit through the packaged zip behind API Gateway (harness/lambda_harness.py): the
merge patch's media type reaches the function, and the answer is the edited ticket."""

from __future__ import annotations

import json

from harness.lambda_harness import ApiGateway
from tests.helpers import example_ticket


def test_a_merge_patch_edits_a_ticket_behind_the_stage_prefix(gateway: ApiGateway) -> None:
    created = gateway.request("POST", gateway.url("/api/v1/tickets"), json_body=example_ticket())
    assert created.status == 201, created.body
    location, etag = created.header("Location"), created.header("ETag")
    assert location is not None and etag is not None
    edited = gateway.request(
        "PATCH",
        location,
        headers={
            "Content-Type": "application/merge-patch+json",
            "If-Match": etag,
        },
        body=json.dumps({"priority": 7, "query_context": {"tags": ["music", "mp3"]}}),
    )
    assert edited.status == 200, edited.body
    assert (edited.json()["priority"], edited.json()["query_context"]["tags"]) == (
        7,
        ["music", "mp3"],
    )
    assert edited.header("ETag") != etag
    stale = gateway.request(
        "PATCH",
        location,
        headers={"Content-Type": "application/json", "If-Match": etag},
        body='{"priority": 8}',
    )
    assert stale.status == 412, stale.body
    refused = gateway.request(
        "PATCH", location, headers={"Content-Type": "text/plain"}, body='{"priority": 9}'
    )
    assert refused.status == 415, refused.body
    assert "application/merge-patch+json" in refused.json()["error"]["message"]
    events = gateway.request("GET", gateway.url("/api/v1/audit?event_type=ticket_updated"))
    assert events.json()["total"] == 1
