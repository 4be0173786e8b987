"""ETags and If-Match, manual transitions, idempotent creates, filters and page links."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from chalicelib.timestamps import format_timestamp
from tests.handler.conftest import Api
from tests.helpers import example_ticket, row_counts

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def create(api: Api, headers: dict[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    status, ticket, _ = api.call(
        "POST", "/api/v1/tickets", example_ticket(**overrides), headers=headers
    )
    assert status == 201, ticket
    return dict(ticket)


def etag_of(api: Api, ticket_id: str) -> str:
    status, _, headers = api.call("GET", f"/api/v1/tickets/{ticket_id}")
    assert status == 200
    return headers["ETag"]


# --- ETag / If-Match -----------------------------------------------------------------


def test_ticket_responses_carry_an_etag_that_changes_with_the_ticket(api: Api) -> None:
    status, ticket, headers = api.call("POST", "/api/v1/tickets", example_ticket())
    assert status == 201
    created_tag = headers["ETag"]
    assert created_tag.startswith('"') and created_tag.endswith('"')
    assert etag_of(api, ticket["id"]) == created_tag
    _, _, cancelled_headers = api.call("DELETE", f"/api/v1/tickets/{ticket['id']}")
    assert cancelled_headers["ETag"] != created_tag
    assert etag_of(api, ticket["id"]) == cancelled_headers["ETag"]


def test_if_match_with_the_current_etag_succeeds(api: Api) -> None:
    ticket = create(api)
    status, _, _ = api.call(
        "DELETE",
        f"/api/v1/tickets/{ticket['id']}",
        headers={"If-Match": etag_of(api, ticket["id"])},
    )
    assert status == 200


@pytest.mark.parametrize("route", ["cancel", "complete", "fail"])
def test_a_stale_if_match_is_412_and_changes_nothing(
    api: Api, handler_db: Path, route: str
) -> None:
    ticket = create(api)
    stale = etag_of(api, ticket["id"])
    # A second client changes the ticket after the first read it... (a fresh ticket for
    # complete/fail: the first must stay pending so only the precondition can fail)
    other = create(api)
    api.call("DELETE", f"/api/v1/tickets/{other['id']}")
    before = row_counts(handler_db)
    # ...so an If-Match that names any other version fails.
    wrong = '"' + "2000-01-01T00:00:00.000000Z" + '"'
    method, path, body = {
        "cancel": ("DELETE", f"/api/v1/tickets/{ticket['id']}", None),
        "complete": ("POST", f"/api/v1/tickets/{ticket['id']}/complete", None),
        "fail": ("POST", f"/api/v1/tickets/{ticket['id']}/fail", {"error": "x"}),
    }[route]
    for tag in (wrong, f"W/{stale}"):
        status, payload, _ = api.call(method, path, body, headers={"If-Match": tag})
        assert status == 412
        assert payload["error"]["code"] == "precondition_failed"
    assert row_counts(handler_db) == before
    status, _, _ = api.call(method, path, body, headers={"If-Match": f"{wrong}, {stale}"})
    assert status == 200


def test_two_clients_cannot_overwrite_each_other(api: Api) -> None:
    ticket = create(api)
    seen_by_both = etag_of(api, ticket["id"])
    first = api.call(
        "POST", f"/api/v1/tickets/{ticket['id']}/complete", headers={"If-Match": seen_by_both}
    )
    second = api.call(
        "DELETE", f"/api/v1/tickets/{ticket['id']}", headers={"If-Match": seen_by_both}
    )
    assert (first[0], second[0]) == (200, 412)
    assert api.call("GET", f"/api/v1/tickets/{ticket['id']}")[1]["state"] == first[1]["state"]


@pytest.mark.parametrize("header", ["", " ", '"unterminated', '"a",', 'W/ "a"', '"a"b', "a b"])
def test_a_malformed_if_match_is_400_and_changes_nothing(
    api: Api, handler_db: Path, header: str
) -> None:
    ticket = create(api)
    before = row_counts(handler_db)
    status, payload, _ = api.call(
        "DELETE", f"/api/v1/tickets/{ticket['id']}", headers={"If-Match": header}
    )
    assert status == 400, payload
    assert payload["error"]["details"][0]["field"] == "If-Match"
    assert row_counts(handler_db) == before


def test_an_etag_sent_without_its_quotes_still_matches(api: Api) -> None:
    ticket = create(api)
    bare = etag_of(api, ticket["id"]).strip('"')
    status, _, _ = api.call("DELETE", f"/api/v1/tickets/{ticket['id']}", headers={"If-Match": bare})
    assert status == 200


def test_if_match_star_means_any_version(api: Api) -> None:
    ticket = create(api)
    status, _, _ = api.call("DELETE", f"/api/v1/tickets/{ticket['id']}", headers={"If-Match": "*"})
    assert status == 200


# --- manual transitions ----------------------------------------------------------------


def test_complete_moves_pending_to_completed_and_is_audited(api: Api) -> None:
    ticket = create(api)
    status, done, _ = api.call("POST", f"/api/v1/tickets/{ticket['id']}/complete")
    assert status == 200
    assert done["state"]["completed"]["completed_at"].endswith("Z")
    _, page, _ = api.call(
        "GET", f"/api/v1/audit?ticket_id={ticket['id']}&event_type=ticket_state_changed"
    )
    (event,) = page["events"]
    assert event["data"]["from"] == "pending"
    assert event["data"]["to"] == "completed"
    assert event["data"]["actor"] == "anonymous"
    assert event["data"]["state"] == done["state"]


def test_fail_records_the_error(api: Api) -> None:
    ticket = create(api)
    status, failed, _ = api.call(
        "POST", f"/api/v1/tickets/{ticket['id']}/fail", {"error": "no seeders"}
    )
    assert status == 200
    assert failed["state"]["failed"]["error"] == "no seeders"
    _, page, _ = api.call("GET", "/api/v1/audit?event_type=ticket_state_changed")
    assert [e["data"]["to"] for e in page["events"]] == ["failed"]


@pytest.mark.parametrize(
    ("path", "body"), [("complete", None), ("fail", {"error": "late"}), ("cancel", None)]
)
def test_transitions_of_a_terminal_ticket_are_409(
    api: Api, handler_db: Path, path: str, body: dict[str, str] | None
) -> None:
    ticket = create(api)
    api.call("POST", f"/api/v1/tickets/{ticket['id']}/complete")
    before = row_counts(handler_db)
    if path == "cancel":
        status, payload, _ = api.call("DELETE", f"/api/v1/tickets/{ticket['id']}")
    else:
        status, payload, _ = api.call("POST", f"/api/v1/tickets/{ticket['id']}/{path}", body)
    assert status == 409
    assert payload["error"]["code"] == "invalid_transition"
    assert row_counts(handler_db) == before


@pytest.mark.parametrize(
    ("raw", "needle"),
    [("{}", "'error' is required"), ('{"error": ""}', "error"), ('{"error": 5}', "error")],
)
def test_fail_needs_an_error_message(api: Api, raw: str, needle: str) -> None:
    ticket = create(api)
    status, payload, _ = api.call("POST", f"/api/v1/tickets/{ticket['id']}/fail", raw=raw)
    assert status == 400
    assert needle in payload["error"]["message"]


def test_transitions_of_an_unknown_ticket_are_404(api: Api) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    assert api.call("POST", f"/api/v1/tickets/{unknown}/complete")[0] == 404
    assert api.call("POST", f"/api/v1/tickets/{unknown}/fail", {"error": "x"})[0] == 404


def test_only_admins_may_transition_by_hand(api: Api, handler_db: Path) -> None:
    user = create_key(handler_db, "alice", Role.USER)[1]
    admin = create_key(handler_db, "root", Role.ADMIN)[1]
    ticket = create(api, headers={"X-Api-Key": user})
    status, payload, _ = api.call(
        "POST", f"/api/v1/tickets/{ticket['id']}/complete", headers={"X-Api-Key": user}
    )
    assert status == 403
    assert payload["error"]["code"] == "forbidden"
    status, done, _ = api.call(
        "POST", f"/api/v1/tickets/{ticket['id']}/complete", headers={"X-Api-Key": admin}
    )
    assert status == 200
    assert "completed" in done["state"]


# --- idempotent creates ------------------------------------------------------------------


def test_a_retry_with_the_same_key_returns_the_original_and_creates_nothing(
    api: Api, handler_db: Path
) -> None:
    headers = {"Idempotency-Key": "0b6f2c1e-retry"}
    status, first, first_headers = api.call(
        "POST", "/api/v1/tickets", example_ticket(), headers=headers
    )
    assert status == 201
    after_first = row_counts(handler_db)
    # Same meaning, different bytes: key order and whitespace do not matter.
    body = example_ticket()
    reordered = {k: body[k] for k in reversed(list(body))}
    status, again, again_headers = api.call("POST", "/api/v1/tickets", reordered, headers=headers)
    assert status == 201
    assert again == first
    assert again_headers["Location"] == first_headers["Location"]
    assert again_headers["ETag"] == first_headers["ETag"] != '""'
    assert again_headers["Idempotent-Replayed"] == "true"
    assert row_counts(handler_db) == after_first


def test_a_replay_returns_the_original_response_even_after_changes(api: Api) -> None:
    headers = {"Idempotency-Key": "k-cancel-later"}
    _, first, _ = api.call("POST", "/api/v1/tickets", example_ticket(), headers=headers)
    api.call("DELETE", f"/api/v1/tickets/{first['id']}")
    _, again, _ = api.call("POST", "/api/v1/tickets", example_ticket(), headers=headers)
    assert again == first


def test_the_same_key_with_a_different_body_is_422(api: Api, handler_db: Path) -> None:
    headers = {"Idempotency-Key": "k-1"}
    api.call("POST", "/api/v1/tickets", example_ticket(), headers=headers)
    before = row_counts(handler_db)
    status, payload, _ = api.call(
        "POST", "/api/v1/tickets", example_ticket(priority=1), headers=headers
    )
    assert status == 422
    assert payload["error"]["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in payload["error"]["message"]
    assert row_counts(handler_db) == before


def test_keys_belong_to_their_caller(api: Api, handler_db: Path) -> None:
    alice = create_key(handler_db, "alice", Role.USER)[1]
    bob = create_key(handler_db, "bob", Role.USER)[1]
    mine = create(api, headers={"X-Api-Key": alice, "Idempotency-Key": "shared"})
    theirs = create(api, headers={"X-Api-Key": bob, "Idempotency-Key": "shared"})
    assert mine["id"] != theirs["id"]


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "é"])
def test_a_malformed_idempotency_key_is_400(api: Api, handler_db: Path, key: str) -> None:
    before = row_counts(handler_db)
    status, payload, _ = api.call(
        "POST", "/api/v1/tickets", example_ticket(), headers={"Idempotency-Key": key}
    )
    assert status == 400
    assert "Idempotency-Key" in payload["error"]["message"]
    assert row_counts(handler_db) == before


def age_idempotency_keys(db_path: Path, hours: float) -> None:
    then = format_timestamp(datetime.now(UTC) - timedelta(hours=hours))
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE idempotency_keys SET created_at = ?", (then,))
    conn.commit()
    conn.close()


def test_keys_are_kept_for_at_least_24_hours_then_expire(api: Api, handler_db: Path) -> None:
    headers = {"Idempotency-Key": "aging"}
    first = create(api, headers=headers)
    age_idempotency_keys(handler_db, 25)
    assert create(api, headers=headers)["id"] == first["id"]
    age_idempotency_keys(handler_db, 49)
    assert create(api, headers=headers)["id"] != first["id"]


# --- Location and page links ---------------------------------------------------------------


def test_created_tickets_have_a_location(api: Api) -> None:
    status, ticket, headers = api.call("POST", "/api/v1/tickets", example_ticket())
    assert status == 201
    assert headers["Location"] == f"/api/v1/tickets/{ticket['id']}"
    assert api.call("GET", headers["Location"])[1] == ticket


def test_list_pages_link_to_the_next_page_until_the_last(api: Api) -> None:
    made = [create(api, priority=p)["id"] for p in (5, 4, 3, 2, 1)]
    seen: list[str] = []
    pages = 0
    for page, headers in api.pages("/api/v1/tickets?state=pending&limit=2"):
        seen += [t["id"] for t in page["tickets"]]
        if page["next"] is not None:
            assert headers["Link"] == f'<{page["next"]}>; rel="next"'
            assert "state=pending" in page["next"]
        else:
            assert "Link" not in headers
        pages += 1
    assert seen == made
    assert pages == 3


def test_audit_pages_link_too(api: Api) -> None:
    create(api)
    create(api)
    _, page, _ = api.call("GET", "/api/v1/audit?limit=2")
    assert page["next"] == f"/api/v1/audit?limit=2&after={page['events'][-1]['id']}"
    _, last, _ = api.call("GET", page["next"])
    assert last["next"] is None
    assert len(last["events"]) == 1
    _, everything, _ = api.call("GET", "/api/v1/audit")
    assert [e["id"] for e in page["events"] + last["events"]] == [
        e["id"] for e in everything["events"]
    ]


@pytest.mark.parametrize("sort", ["queue", "newest"])
@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_following_next_visits_every_ticket_once_in_order(api: Api, sort: str, limit: int) -> None:
    for priority in (5, 5, 5, 9, 1, 1, 9, 5):  # ties on priority cross page boundaries
        create(api, priority=priority)
    _, whole, _ = api.call("GET", f"/api/v1/tickets?sort={sort}&limit=1000")
    expected = [t["id"] for t in whole["tickets"]]
    seen: list[str] = []
    for page, _ in api.pages(f"/api/v1/tickets?sort={sort}&limit={limit}"):
        assert page["total"] == len(expected)
        seen += [t["id"] for t in page["tickets"]]
        if (url := page["next"]) is not None:
            assert "after=" in url and "offset=" not in url
    assert seen == expected


def test_after_continues_a_filtered_list(api: Api) -> None:
    made = [create(api, priority=p)["id"] for p in (3, 3, 2, 1)]
    api.call("DELETE", f"/api/v1/tickets/{made[1]}")
    assert ids(api, f"state=pending&after={made[0]}") == [made[2], made[3]]
    # The cursor need not match the filter: it only says where to continue.
    assert ids(api, f"state=pending&after={made[1]}") == [made[2], made[3]]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/tickets", "after=nope"),
        ("/api/v1/tickets", "after=" + "0" * 32),  # a UUID, but not in the documented form
        ("/api/v1/audit", "after=x"),
        ("/api/v1/audit", "after=-1"),
    ],
)
def test_malformed_cursors_are_400(api: Api, path: str, query: str) -> None:
    create(api)
    status, payload, _ = api.call("GET", f"{path}?{query}")
    assert status == 400, payload
    assert payload["error"]["details"][0]["field"] == "after"


def test_a_ticket_cursor_naming_no_ticket_is_404(api: Api) -> None:
    create(api)
    status, payload, _ = api.call("GET", f"/api/v1/tickets?after={UNKNOWN_ID}")
    assert status == 404, payload
    assert payload["error"]["code"] == "ticket_not_found"
    assert "'after'" in payload["error"]["message"]


def test_offset_after_a_cursor_skips_that_many_more(api: Api) -> None:
    made = [create(api, priority=p)["id"] for p in (9, 8, 7, 6, 5)]
    assert ids(api, f"after={made[0]}&offset=2") == [made[3], made[4]]
    assert ids(api, f"sort=newest&after={made[4]}&offset=1&limit=2") == [made[2], made[1]]
    _, page, _ = api.call("GET", f"/api/v1/tickets?after={made[0]}&offset=1&limit=2")
    assert page["next"] == f"/api/v1/tickets?limit=2&after={made[3]}"


def test_an_audit_cursor_may_be_any_event_id(api: Api) -> None:
    for _ in range(3):
        create(api)
    _, everything, _ = api.call("GET", "/api/v1/audit")
    event_ids = [e["id"] for e in everything["events"]]
    _, from_zero, _ = api.call("GET", "/api/v1/audit?after=0")
    assert [e["id"] for e in from_zero["events"]] == event_ids
    _, beyond, _ = api.call("GET", f"/api/v1/audit?after={event_ids[-1] + 1000}")
    assert (beyond["events"], beyond["total"]) == ([], len(event_ids))
    _, skipped, _ = api.call("GET", f"/api/v1/audit?after={event_ids[0]}&offset=1")
    assert [e["id"] for e in skipped["events"]] == event_ids[2:]


# --- filters --------------------------------------------------------------------------------


def ids(api: Api, query: str) -> list[str]:
    status, page, _ = api.call("GET", f"/api/v1/tickets?{query}")
    assert status == 200, page
    if "after=" not in query:
        assert page["total"] == len(page["tickets"])
    return [t["id"] for t in page["tickets"]]


def test_list_filters(api: Api) -> None:
    flac = create(api, priority=3, query_context={"tags": ["music", "flac"], "description": ""})
    mp3 = create(api, priority=2, query_context={"tags": ["music", "mp3"], "description": ""})
    movie = create(api, priority=1, query_context={"tags": ["movie"], "description": ""})
    api.call("DELETE", f"/api/v1/tickets/{mp3['id']}")
    api.call("POST", f"/api/v1/tickets/{movie['id']}/fail", {"error": "x"})

    assert ids(api, "state=pending&state=failed") == [flac["id"], movie["id"]]
    assert ids(api, "state=cancelled") == [mp3["id"]]
    assert ids(api, "tag=music") == [flac["id"], mp3["id"]]
    assert ids(api, "tag=music&tag=flac") == [flac["id"]]
    assert ids(api, "tag=music&tag=movie") == []
    assert ids(api, "created_by=anonymous&tag=movie") == [movie["id"]]
    assert ids(api, "sort=newest") == [movie["id"], mp3["id"], flac["id"]]
    assert ids(api, "sort=queue") == [flac["id"], mp3["id"], movie["id"]]
    assert ids(api, f"created_after={flac['created_at']}") == [mp3["id"], movie["id"]]
    assert ids(api, f"created_before={mp3['created_at']}") == [flac["id"]]
    window = f"created_after={flac['created_at']}&created_before={movie['created_at']}"
    assert ids(api, window) == [mp3["id"]]


def test_timestamps_with_offsets_are_understood(api: Api) -> None:
    ticket = create(api)
    created = datetime.fromisoformat(ticket["created_at"])
    earlier = (created - timedelta(seconds=1)).astimezone(datetime.now().astimezone().tzinfo)
    query = "created_after=" + earlier.isoformat().replace("+", "%2B")
    assert ids(api, query) == [ticket["id"]]


def test_timestamps_before_the_year_1000_compare_as_times(api: Api) -> None:
    ticket = create(api)
    assert ids(api, "created_after=0999-01-01T00:00:00Z") == [ticket["id"]]
    assert ids(api, "created_before=0999-01-01T00:00:00Z") == []
    _, page, _ = api.call("GET", "/api/v1/audit?since=0999-01-01T00:00:00Z")
    assert page["total"] >= 1
    _, page, _ = api.call("GET", "/api/v1/audit?until=0999-01-01T00:00:00Z")
    assert page["total"] == 0


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("created_after=0001-01-01T00:00:00%2B01:00", "created_after"),  # year 0 in UTC
        ("created_before=9999-12-31T23:59:59-01:00", "created_before"),  # year 10000
        ("sort=oldest", "sort"),
        ("state=pending&state=bogus", "state"),
        ("created_after=yesterday", "created_after"),
        ("created_after=2024-01-01T00:00:00", "created_after"),  # no time zone
        ("created_before=", "created_before"),
        ("tag=", "tag"),
        ("created_by=", "created_by"),
    ],
)
def test_bad_filters_are_400(api: Api, query: str, needle: str) -> None:
    status, payload, _ = api.call("GET", f"/api/v1/tickets?{query}")
    assert status == 400
    assert needle in payload["error"]["message"]


def test_audit_filters(api: Api) -> None:
    first = create(api)
    second = create(api)
    api.call("DELETE", f"/api/v1/tickets/{first['id']}")
    _, page, _ = api.call(
        "GET", "/api/v1/audit?event_type=ticket_created&event_type=ticket_cancelled"
    )
    assert [e["event_type"] for e in page["events"]] == [
        "ticket_created",
        "ticket_created",
        "ticket_cancelled",
    ]
    _, since, _ = api.call("GET", f"/api/v1/audit?since={second['created_at']}")
    assert [e["event_type"] for e in since["events"]] == ["ticket_created", "ticket_cancelled"]
    _, until, _ = api.call(
        "GET", f"/api/v1/audit?until={second['created_at']}&event_type=ticket_created"
    )
    assert [e["data"]["ticket_id"] for e in until["events"]] == [first["id"]]
    status, bad, _ = api.call("GET", "/api/v1/audit?since=soon")
    assert status == 400
    assert "since" in bad["error"]["message"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"error": ""}, "at least 1 character"),
        ({"error": "x" * 10_001}, "at most 10000 characters"),
    ],
)
def test_text_bounds_are_reported_in_characters(
    api: Api, body: dict[str, str], needle: str
) -> None:
    ticket = create(api)
    status, payload, _ = api.call("POST", f"/api/v1/tickets/{ticket['id']}/fail", body)
    assert status == 400
    assert needle in payload["error"]["details"][0]["message"]
