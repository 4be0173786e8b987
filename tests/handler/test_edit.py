"""PATCH /api/v1/tickets/{id} through chalice.test.Client: a JSON Merge Patch of a pending
ticket, its refusals in the one error shape (each changing nothing), and its record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from tests.handler.conftest import Api
from tests.handler.test_api import assert_error
from tests.helpers import example_ticket, row_counts

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def create(api: Api, headers: dict[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    status, ticket, _ = api.call(
        "POST", "/api/v1/tickets", example_ticket(**overrides), headers=headers
    )
    assert status == 201, ticket
    return dict(ticket)


def edit(
    api: Api, ticket_id: str, patch: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    return api.call("PATCH", f"/api/v1/tickets/{ticket_id}", raw=json.dumps(patch), headers=headers)


@pytest.mark.parametrize("media_type", ["application/merge-patch+json", "application/json"])
def test_a_merge_patch_edits_the_ticket_and_answers_its_new_etag(api: Api, media_type: str) -> None:
    ticket = create(api)
    etag = api.call("GET", f"/api/v1/tickets/{ticket['id']}")[2]["ETag"]
    status, edited, headers = edit(
        api,
        ticket["id"],
        {"priority": 300, "query_context": {"tags": ["music", "mp3"]}},
        {"Content-Type": media_type, "If-Match": etag},
    )
    assert status == 200, edited
    assert edited == {
        **ticket,
        "priority": 300,
        "query_context": {"tags": ["music", "mp3"], "description": "Abbey Road by The Beatles"},
    }
    assert headers["ETag"] != etag
    status, read, read_headers = api.call("GET", f"/api/v1/tickets/{ticket['id']}")
    assert (read, read_headers["ETag"]) == (edited, headers["ETag"])
    assert "Idempotent-Replayed" not in headers


def test_the_edit_is_in_the_audit_log_and_the_history(api: Api) -> None:
    ticket = create(api)
    edit(api, ticket["id"], {"dest_path": "/media/music/abbey-road"}, MERGE_PATCH)
    page = api.call("GET", "/api/v1/audit?event_type=ticket_updated")[1]
    assert page["total"] == 1
    (event,) = page["events"]
    assert event["data"] == {
        "ticket_id": ticket["id"],
        "actor": "anonymous",
        "changes": {"dest_path": {"old": "/media/music/beatles", "new": "/media/music/abbey-road"}},
    }
    history = api.call("GET", f"/api/v1/tickets/{ticket['id']}/history")[1]
    assert [(e["event"]["event_type"], e["state"]) for e in history["entries"]] == [
        ("ticket_created", "pending"),
        ("ticket_updated", "pending"),
    ]


def test_counts_filters_tags_and_queue_order_follow_at_once(api: Api) -> None:
    first = create(api, priority=50)
    second = create(api, priority=10, query_context={"tags": ["movie"], "description": "x"})
    edit(api, second["id"], {"priority": 90, "query_context": {"tags": ["music", "flac"]}})
    listed = api.call("GET", "/api/v1/tickets?tag=flac&tag=music")[1]
    assert [t["id"] for t in listed["tickets"]] == [second["id"], first["id"]]
    assert listed["total"] == 2
    assert api.call("GET", "/api/v1/tickets?tag=movie")[1]["total"] == 0
    assert api.call("GET", "/api/v1/tickets?state=pending")[1]["total"] == 2


@pytest.mark.parametrize(
    "patch", [{}, {"query_context": {}}, {"priority": 100}], ids=["empty", "empty part", "same"]
)
def test_a_patch_that_changes_nothing_changes_and_records_nothing(
    api: Api, handler_db: Path, patch: dict[str, Any]
) -> None:
    ticket = create(api)
    etag = api.call("GET", f"/api/v1/tickets/{ticket['id']}")[2]["ETag"]
    before = row_counts(handler_db)
    status, same, headers = edit(api, ticket["id"], patch, {"If-Match": etag})
    assert (status, same, headers["ETag"]) == (200, ticket, etag)
    assert row_counts(handler_db) == before


@pytest.mark.parametrize(
    ("patch", "field", "needle"),
    [
        ({"id": "00000000-0000-4000-8000-000000000000"}, "id", "id cannot be changed"),
        ({"state": "completed"}, "state", "state cannot be changed"),
        ({"created_by": "mallory"}, "created_by", "created_by cannot be changed"),
        ({"created_at": "2020-01-01T00:00:00Z"}, "created_at", "created_at cannot be changed"),
        ({"colour": "blue"}, "colour", "unknown field 'colour'"),
        ({"query_context": {"genre": "rock"}}, "query_context.genre", "unknown field"),
        ({"priority": None}, "priority", "priority cannot be removed"),
        ({"query_context": None}, "query_context", "query_context cannot be removed"),
        ({"query_context": {"tags": None}}, "query_context.tags", "tags cannot be removed"),
        ({"dest_path": None}, "dest_path", "dest_path cannot be removed"),
        ({"priority": 65536}, "priority", "less than or equal to 65535"),
        ({"priority": "high"}, "priority", "valid integer"),
        ({"priority": 1.5}, "priority", "valid integer"),
        ({"dest_path": "relative/path"}, "dest_path", "absolute path"),
        ({"dest_path": "/media/../etc"}, "dest_path", "'..' segment"),
        ({"query_context": {"tags": [""]}}, "query_context.tags.0", "at least 1 character"),
        ({"query_context": {"tags": ["a\nb"]}}, "query_context.tags.0", "control characters"),
        ({"query_context": {"tags": ["t"] * 101}}, "query_context.tags", "at most 100 items"),
        ({"query_context": {"description": "x" * 10_001}}, "query_context.description", "10000"),
        ({"query_context": {"tags": "music"}}, "query_context.tags", "valid array"),
        ([{"op": "replace", "path": "/priority", "value": 1}], "body", "JSON object"),
        ("priority", "body", "JSON object"),
    ],
)
def test_a_bad_patch_is_a_400_naming_the_field_and_changes_nothing(
    api: Api, handler_db: Path, patch: Any, field: str, needle: str
) -> None:
    ticket = create(api)
    before = row_counts(handler_db)
    status, payload, _ = edit(api, ticket["id"], patch, MERGE_PATCH)
    assert status == 400, payload
    assert_error(payload, "invalid_input", needle)
    assert field in [detail["field"] for detail in payload["error"]["details"]]
    assert row_counts(handler_db) == before
    assert api.call("GET", f"/api/v1/tickets/{ticket['id']}")[1] == ticket


@pytest.mark.parametrize(
    ("raw", "headers", "status", "code"),
    [
        (b"", MERGE_PATCH, 400, "invalid_input"),
        (b"{not json", MERGE_PATCH, 400, "invalid_input"),
        (b'{"priority": 1}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        (
            b'[{"op": "remove", "path": "/priority"}]',
            {"Content-Type": "application/json-patch+json"},
            415,
            "unsupported_media_type",
        ),
    ],
)
def test_a_body_that_is_no_merge_patch_is_refused(
    api: Api, handler_db: Path, raw: bytes, headers: dict[str, str], *, status: int, code: str
) -> None:
    ticket = create(api)
    before = row_counts(handler_db)
    answer = api.call("PATCH", f"/api/v1/tickets/{ticket['id']}", raw=raw, headers=headers)
    assert answer[0] == status, answer[1]
    assert_error(answer[1], code)
    assert row_counts(handler_db) == before


def test_the_415_names_both_media_types(api: Api) -> None:
    ticket = create(api)
    status, payload, _ = api.call(
        "PATCH", f"/api/v1/tickets/{ticket['id']}", raw="{}", headers={"Content-Type": "text/csv"}
    )
    assert status == 415
    assert "application/merge-patch+json or application/json" in payload["error"]["message"]


@pytest.mark.parametrize(
    ("finish", "state"),
    [
        (("DELETE", ""), "cancelled"),
        (("POST", "/complete"), "completed"),
        (("POST", "/fail"), "failed"),
    ],
)
def test_a_ticket_no_longer_pending_is_a_409_naming_its_state(
    api: Api, handler_db: Path, finish: tuple[str, str], state: str
) -> None:
    ticket = create(api)
    method, suffix = finish
    body = {"error": "no seeders"} if suffix == "/fail" else None
    assert api.call(method, f"/api/v1/tickets/{ticket['id']}{suffix}", body)[0] == 200
    before = row_counts(handler_db)
    status, payload, _ = edit(api, ticket["id"], {"priority": 1}, MERGE_PATCH)
    assert status == 409
    assert_error(payload, "ticket_not_pending", f"is no longer pending (it is {state})")
    assert row_counts(handler_db) == before


def test_a_stale_if_match_is_a_412_and_changes_nothing(api: Api, handler_db: Path) -> None:
    ticket = create(api)
    etag = api.call("GET", f"/api/v1/tickets/{ticket['id']}")[2]["ETag"]
    assert edit(api, ticket["id"], {"priority": 1}, {"If-Match": etag})[0] == 200
    before = row_counts(handler_db)
    status, payload, _ = edit(api, ticket["id"], {"priority": 2}, {"If-Match": etag})
    assert status == 412
    assert_error(payload, "precondition_failed", "If-Match")
    assert row_counts(handler_db) == before
    assert api.call("GET", f"/api/v1/tickets/{ticket['id']}")[1]["priority"] == 1


def test_an_unknown_ticket_is_a_404(api: Api) -> None:
    for ticket_id in ("00000000-0000-4000-8000-000000000000", "not-a-ticket"):
        status, payload, _ = edit(api, ticket_id, {"priority": 1}, MERGE_PATCH)
        assert status == 404
        assert_error(payload, "ticket_not_found")


def test_its_owner_or_an_admin_may_edit_it_and_no_one_else(api: Api, handler_db: Path) -> None:
    admin = {"X-Api-Key": create_key(handler_db, "root", Role.ADMIN)[1]}
    alice = {"X-Api-Key": create_key(handler_db, "alice", Role.USER)[1]}
    bob = {"X-Api-Key": create_key(handler_db, "bob", Role.USER)[1]}
    ticket = create(api, alice)
    before = row_counts(handler_db)
    status, payload, _ = edit(api, ticket["id"], {"priority": 1}, bob)
    assert status == 403
    assert_error(payload, "forbidden", "created by someone else")
    assert row_counts(handler_db) == before
    assert edit(api, ticket["id"], {"priority": 2}, alice)[1]["priority"] == 2
    assert edit(api, ticket["id"], {"priority": 3}, admin)[1]["priority"] == 3
    actors = [
        e["data"]["actor"]
        for e in api.call("GET", "/api/v1/audit?event_type=ticket_updated", headers=admin)[1][
            "events"
        ]
    ]
    assert actors == ["alice", "root"]
    assert api.call("PATCH", f"/api/v1/tickets/{ticket['id']}", {"priority": 4})[0] == 401


def test_a_retry_with_the_same_idempotency_key_applies_once(api: Api, handler_db: Path) -> None:
    ticket = create(api)
    etag = api.call("GET", f"/api/v1/tickets/{ticket['id']}")[2]["ETag"]
    headers = {**MERGE_PATCH, "Idempotency-Key": "edit-1", "If-Match": etag}
    status, first, first_headers = edit(api, ticket["id"], {"priority": 7}, headers)
    assert (status, first["priority"]) == (200, 7)
    before = row_counts(handler_db)
    status, again, again_headers = edit(api, ticket["id"], {"priority": 7}, headers)
    assert (status, again, again_headers["ETag"]) == (200, first, first_headers["ETag"])
    assert again_headers["Idempotent-Replayed"] == "true"
    assert row_counts(handler_db) == before
    status, payload, _ = edit(api, ticket["id"], {"priority": 8}, headers)
    assert status == 422
    assert_error(payload, "idempotency_key_reused", "edit-1")
    assert row_counts(handler_db) == before


def test_a_bad_idempotency_key_or_if_match_is_a_400(api: Api) -> None:
    ticket = create(api)
    for headers, field in (
        ({"Idempotency-Key": "with space"}, "Idempotency-Key"),
        ({"If-Match": ""}, "If-Match"),
    ):
        status, payload, _ = edit(api, ticket["id"], {"priority": 1}, headers)
        assert status == 400
        assert payload["error"]["details"][0]["field"] == field


def test_another_sites_page_cannot_edit_in_open_mode(api: Api, handler_db: Path) -> None:
    ticket = create(api)
    before = row_counts(handler_db)
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        status, payload, _ = edit(
            api, ticket["id"], {"priority": 1}, {"Host": "localhost:8080", **headers}
        )
        assert status == 403, payload
        assert_error(payload, "forbidden", "may not change anything")
    assert row_counts(handler_db) == before
    assert api.call("GET", f"/api/v1/tickets/{ticket['id']}")[1] == ticket


def test_the_document_describes_the_edit_with_its_media_types(api: Api) -> None:
    document = api.call("GET", "/api/v1/openapi.json")[1]
    operation = document["paths"]["/api/v1/tickets/{ticket_id}"]["patch"]
    content = operation["requestBody"]["content"]
    assert list(content) == ["application/merge-patch+json", "application/json"]
    for media_type in content.values():
        assert media_type["schema"] == {"$ref": "#/components/schemas/UpdateTicketRequest"}
        assert media_type["example"]["priority"] == 200
    assert {"200", "400", "403", "404", "409", "412", "415", "422"} <= set(operation["responses"])
    assert {p["name"] for p in operation["parameters"]} == {
        "ticket_id",
        "If-Match",
        "Idempotency-Key",
    }
    schema = document["components"]["schemas"]["UpdateTicketRequest"]
    assert schema["additionalProperties"] is False and "required" not in schema
    assert set(schema["properties"]) == {"priority", "query_context", "dest_path"}
    # No member may be null: absent keeps a field, and null would remove it.
    assert "null" not in json.dumps(schema) + json.dumps(
        document["components"]["schemas"]["QueryContextPatch"]
    )
    # The create's example is as its model writes it (key order included): today's
    # routes are described byte for byte as before.
    create = document["paths"]["/api/v1/tickets"]["post"]["requestBody"]["content"]
    assert list(create["application/json"]["example"]) == [
        "priority",
        "query_context",
        "dest_path",
    ]


def test_a_new_destination_must_be_inside_a_destination_as_for_a_create(
    api: Api, handler_db: Path
) -> None:
    ticket = create(api, dest_path="/media/music/beatles")
    body = {"name": "Music", "root": "/media/music", "tags": []}
    status, added, _ = api.call("POST", "/api/v1/destinations", body)
    assert status == 201, added
    before = row_counts(handler_db)
    for outside in ("/etc/cron.d", "/media/musicals", "/media/music/../../etc"):
        status, payload, _ = edit(api, ticket["id"], {"dest_path": outside}, MERGE_PATCH)
        assert status == 400, (outside, payload)
        assert payload["error"]["details"][0]["field"] == "dest_path"
    assert row_counts(handler_db) == before
    # Inside one, it goes through; and an edit of another field keeps a path as it was.
    status, edited, _ = edit(api, ticket["id"], {"dest_path": "/media/music/help"}, MERGE_PATCH)
    assert (status, edited["dest_path"]) == (200, "/media/music/help")
    api.call("DELETE", f"/api/v1/destinations/{added['id']}")
    api.call("POST", "/api/v1/destinations", {"name": "Films", "root": "/media/films", "tags": []})
    status, edited, _ = edit(api, ticket["id"], {"priority": 5}, MERGE_PATCH)
    assert (status, edited["priority"], edited["dest_path"]) == (200, 5, "/media/music/help")


def test_the_states_say_which_may_be_edited_and_which_filed_again(api: Api) -> None:
    # The page offers Edit and File again from these, naming no state itself.
    machine = api.call("GET", "/api/v1/states")[1]
    described = {s["name"]: (s["editable"], s["file_again"]) for s in machine["states"]}
    assert described == {
        "pending": (True, False),
        "cancelled": (False, True),
        "completed": (False, False),
        "failed": (False, True),
    }
