"""The API through chalice.test.Client: statuses, shapes, and that bad input writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.handler.conftest import Api
from tests.helpers import example_ticket, row_counts

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def create(api: Api, **overrides: Any) -> dict[str, Any]:
    status, ticket, _ = api.call("POST", "/api/v1/tickets", example_ticket(**overrides))
    assert status == 201, ticket
    return dict(ticket)


def assert_error(payload: Any, code: str, needle: str = "") -> None:
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"code", "message", "details"}
    assert payload["error"]["code"] == code
    assert needle in payload["error"]["message"]


def test_create_returns_201_and_the_seed_shape(api: Api) -> None:
    ticket = create(api)
    assert ticket["state"] == "pending"
    assert ticket["created_by"] == "anonymous"
    assert ticket["priority"] == 100
    assert ticket["created_at"].endswith("Z")
    assert ticket["query_context"] == example_ticket()["query_context"]


@pytest.mark.parametrize("priority", ["100.0", "1e2", "100"])
def test_a_whole_number_priority_is_accepted_however_written(api: Api, priority: str) -> None:
    # JSON Schema calls 100.0 an integer, so a client generated from the document may send it.
    body = json.dumps(example_ticket()).replace('"priority": 100', f'"priority": {priority}')
    status, ticket, _ = api.call("POST", "/api/v1/tickets", raw=body)
    assert status == 201, ticket
    assert ticket["priority"] == 100


def test_get_returns_the_created_ticket(api: Api) -> None:
    ticket = create(api)
    status, fetched, headers = api.call("GET", f"/api/v1/tickets/{ticket['id']}")
    assert status == 200
    assert fetched == ticket
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("ticket_id", [UNKNOWN_ID, "nope", "1", "%27%3B%20DROP"])
def test_get_unknown_or_malformed_id_is_404(api: Api, ticket_id: str) -> None:
    status, payload, _ = api.call("GET", f"/api/v1/tickets/{ticket_id}")
    assert status == 404
    assert_error(payload, "ticket_not_found")


def test_list_has_the_page_shape_and_defaults(api: Api) -> None:
    first = create(api, priority=1)
    second = create(api, priority=2)
    status, page, _ = api.call("GET", "/api/v1/tickets")
    assert status == 200
    assert page["total"] == 2
    assert (page["limit"], page["offset"]) == (50, 0)
    assert [t["id"] for t in page["tickets"]] == [second["id"], first["id"]]


def test_list_filters_by_state(api: Api) -> None:
    keep = create(api)
    gone = create(api)
    api.call("DELETE", f"/api/v1/tickets/{gone['id']}")
    _, pending, _ = api.call("GET", "/api/v1/tickets?state=pending")
    _, cancelled, _ = api.call("GET", "/api/v1/tickets?state=cancelled&limit=1000")
    assert [t["id"] for t in pending["tickets"]] == [keep["id"]]
    assert [t["id"] for t in cancelled["tickets"]] == [gone["id"]]
    assert cancelled["limit"] == 1000


def test_cancel_with_reason_then_again_is_409(api: Api) -> None:
    ticket = create(api)
    status, cancelled, _ = api.call(
        "DELETE", f"/api/v1/tickets/{ticket['id']}", {"reason": "No longer needed"}
    )
    assert status == 200
    state = cancelled["state"]["cancelled"]
    assert state["cancelled_by"] == "anonymous"
    assert state["reason"] == "No longer needed"
    assert state["cancelled_at"].endswith("Z")
    status, payload, _ = api.call("DELETE", f"/api/v1/tickets/{ticket['id']}")
    assert status == 409
    assert_error(payload, "invalid_transition", "cancelled")


def test_cancel_without_a_body(api: Api) -> None:
    ticket = create(api)
    status, cancelled, _ = api.call("DELETE", f"/api/v1/tickets/{ticket['id']}")
    assert status == 200
    assert cancelled["state"]["cancelled"]["reason"] is None


def test_cancel_unknown_ticket_is_404(api: Api) -> None:
    status, payload, _ = api.call("DELETE", f"/api/v1/tickets/{UNKNOWN_ID}")
    assert status == 404
    assert_error(payload, "ticket_not_found")


def test_audit_lists_events_oldest_first_with_filters(api: Api) -> None:
    ticket = create(api)
    api.call("DELETE", f"/api/v1/tickets/{ticket['id']}", {"reason": "r"})
    status, page, _ = api.call("GET", "/api/v1/audit")
    assert status == 200
    assert [e["event_type"] for e in page["events"]] == [
        "service_started",
        "ticket_created",
        "ticket_cancelled",
    ]
    assert page["total"] == 3
    for event in page["events"]:
        assert set(event) == {"id", "event_type", "timestamp", "data"}
    _, cancelled, _ = api.call("GET", "/api/v1/audit?event_type=ticket_cancelled")
    assert [e["data"]["previous_state"] for e in cancelled["events"]] == ["pending"]
    _, mine, _ = api.call("GET", f"/api/v1/audit?ticket_id={ticket['id']}&limit=1&offset=1")
    assert [e["event_type"] for e in mine["events"]] == ["ticket_cancelled"]
    assert mine["total"] == 2


BAD_CREATES: list[tuple[str, bytes | str, str]] = [
    ("invalid JSON", b"{not json", "not valid JSON"),
    ("array body", b"[]", "JSON object"),
    ("null body", b"null", "JSON object"),
    ("string body", b'"ticket"', "JSON object"),
    ("empty body", b"", "body is required"),
    (
        "missing priority",
        json.dumps({k: v for k, v in example_ticket().items() if k != "priority"}),
        "priority",
    ),
    ("missing query_context", json.dumps({"priority": 1, "dest_path": "/x"}), "query_context"),
    ("null dest_path", json.dumps(example_ticket(dest_path=None)), "dest_path"),
    ("string priority", json.dumps(example_ticket(priority="100")), "priority"),
    ("float priority", json.dumps(example_ticket(priority=1.5)), "priority"),
    ("boolean priority", json.dumps(example_ticket(priority=True)), "priority"),
    ("negative priority", json.dumps(example_ticket(priority=-1)), "priority"),
    ("huge priority", json.dumps(example_ticket(priority=65536)), "priority"),
    (
        "absurd priority",
        '{"priority": 1000000000000000000000000000000,'
        ' "query_context": {"tags": [], "description": ""}, "dest_path": "/x"}',
        "priority",
    ),
    (
        "tags not a list",
        json.dumps(example_ticket(query_context={"tags": "music", "description": ""})),
        "tags",
    ),
    (
        "tags not strings",
        json.dumps(example_ticket(query_context={"tags": [1, 2], "description": ""})),
        "tags",
    ),
    ("empty dest_path", json.dumps(example_ticket(dest_path="")), "dest_path"),
    ("relative dest_path", json.dumps(example_ticket(dest_path="media/x")), "dest_path"),
    ("dotdot dest_path", json.dumps(example_ticket(dest_path="/media/../etc")), "dest_path"),
    ("unknown field", json.dumps(example_ticket(owner="me")), "owner"),
    (
        "unknown nested field",
        json.dumps(example_ticket(query_context={"tags": [], "description": "", "x": 1})),
        "query_context.x",
    ),
]


@pytest.mark.parametrize(
    ("raw", "needle"), [c[1:] for c in BAD_CREATES], ids=[c[0] for c in BAD_CREATES]
)
def test_bad_create_is_400_and_writes_nothing(
    api: Api, handler_db: Path, raw: bytes | str, needle: str
) -> None:
    before = row_counts(handler_db)
    status, payload, _ = api.call("POST", "/api/v1/tickets", raw=raw)
    assert status == 400, payload
    assert_error(payload, "invalid_input", needle)
    assert row_counts(handler_db) == before


def test_wrong_content_type_is_415_and_writes_nothing(api: Api, handler_db: Path) -> None:
    before = row_counts(handler_db)
    status, payload, _ = api.call(
        "POST",
        "/api/v1/tickets",
        raw=json.dumps(example_ticket()),
        headers={"Content-Type": "text/plain"},
    )
    assert status == 415
    assert_error(payload, "unsupported_media_type", "application/json")
    assert row_counts(handler_db) == before


def test_body_over_one_mebibyte_is_413_and_writes_nothing(api: Api, handler_db: Path) -> None:
    before = row_counts(handler_db)
    body = example_ticket(query_context={"tags": [], "description": "x" * (1024 * 1024)})
    status, payload, _ = api.call("POST", "/api/v1/tickets", body)
    assert status == 413
    assert_error(payload, "payload_too_large")
    assert row_counts(handler_db) == before


BAD_QUERIES = [
    ("limit=abc", "limit"),
    ("limit=1.5", "limit"),
    ("limit=-1", "limit"),
    ("limit=0", "limit"),
    ("limit=1001", "limit"),
    ("offset=-1", "offset"),
    ("offset=x", "offset"),
    ("offset=1000000000000000000000000000000", "offset"),
    ("state=running", "state"),
    ("state=", "state"),
    ("limit=1&limit=2", "limit"),
    ("sort=priority", "sort"),
]


@pytest.mark.parametrize(("query", "needle"), BAD_QUERIES)
def test_bad_list_query_is_400(api: Api, query: str, needle: str) -> None:
    status, payload, _ = api.call("GET", f"/api/v1/tickets?{query}")
    assert status == 400
    assert_error(payload, "invalid_input", needle)


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("event_type=nope", "event_type"),
        ("x=1", "x"),
    ],
)
def test_bad_audit_query_is_400(api: Api, query: str, needle: str) -> None:
    status, payload, _ = api.call("GET", f"/api/v1/audit?{query}")
    assert status == 400
    assert_error(payload, "invalid_input", needle)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (json.dumps({"reason": 5}), "reason"),
        (json.dumps({"reason": ["a"]}), "reason"),
        (json.dumps({"why": "x"}), "why"),
        ("[]", "JSON object"),
        ("{bad", "not valid JSON"),
    ],
)
def test_bad_cancel_body_is_400_and_changes_nothing(
    api: Api, handler_db: Path, raw: str, needle: str
) -> None:
    ticket = create(api)
    before = row_counts(handler_db)
    status, payload, _ = api.call("DELETE", f"/api/v1/tickets/{ticket['id']}", raw=raw)
    assert status == 400
    assert_error(payload, "invalid_input", needle)
    assert row_counts(handler_db) == before
    assert api.call("GET", f"/api/v1/tickets/{ticket['id']}")[1]["state"] == "pending"


def test_wrong_method_is_405_in_the_error_shape(api: Api) -> None:
    status, payload, headers = api.call("PUT", "/api/v1/tickets")
    assert status == 405
    assert_error(payload, "method_not_allowed", "PUT")
    assert "GET" in headers["Allow"]


def test_an_unexpected_failure_is_a_500_without_a_traceback(api: Api, handler_db: Path) -> None:
    # Replace the database with a file that is not SQLite at all.
    handler_db.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(str(handler_db) + suffix).unlink(missing_ok=True)
    status, payload, _ = api.call("GET", "/api/v1/tickets")
    assert status == 500
    assert_error(payload, "storage_corrupt")
    assert "Traceback" not in json.dumps(payload)


def test_health_answers_ok_without_touching_the_database(api: Api, tmp_path: Path) -> None:
    status, payload, _ = api.call("GET", "/api/v1/health")
    assert (status, payload) == (200, {"status": "ok"})
    assert not (tmp_path / "handler.db").exists()
