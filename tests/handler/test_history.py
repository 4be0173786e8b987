"""GET /api/v1/tickets/{id}/history: the events and the state after each."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from tests.handler.conftest import Api
from tests.helpers import example_ticket


def create(api: Api, headers: dict[str, str] | None = None) -> dict[str, Any]:
    status, ticket, _ = api.call("POST", "/api/v1/tickets", example_ticket(), headers=headers)
    assert status == 201
    return dict(ticket)


def history(api: Api, ticket_id: str, headers: dict[str, str] | None = None) -> Any:
    status, body, _ = api.call("GET", f"/api/v1/tickets/{ticket_id}/history", headers=headers)
    assert status == 200, body
    return body


def test_history_of_a_new_ticket(api: Api) -> None:
    ticket = create(api)
    body = history(api, ticket["id"])
    assert body["ticket_id"] == ticket["id"]
    (entry,) = body["entries"]
    assert entry["event"]["event_type"] == "ticket_created"
    assert entry["event"]["timestamp"] == ticket["created_at"]
    assert entry["state"] == "pending"


@pytest.mark.parametrize(
    ("method", "suffix", "body", "kind"),
    [
        ("DELETE", "", {"reason": "changed my mind"}, "cancelled"),
        ("POST", "/complete", None, "completed"),
        ("POST", "/fail", {"error": "no seeders"}, "failed"),
    ],
)
def test_history_shows_the_state_after_each_event(
    api: Api, method: str, suffix: str, body: dict[str, str] | None, kind: str
) -> None:
    ticket = create(api)
    status, changed, _ = api.call(method, f"/api/v1/tickets/{ticket['id']}{suffix}", body)
    assert status == 200
    entries = history(api, ticket["id"])["entries"]
    assert [e["state"] if e["state"] == "pending" else next(iter(e["state"])) for e in entries] == [
        "pending",
        kind,
    ]
    assert entries[-1]["state"] == changed["state"]
    _, audit, _ = api.call("GET", f"/api/v1/audit?ticket_id={ticket['id']}")
    assert [e["event"] for e in entries] == audit["events"]


def test_history_of_an_unknown_ticket_is_404(api: Api) -> None:
    for ticket_id in ("00000000-0000-4000-8000-000000000000", "nope"):
        status, payload, _ = api.call("GET", f"/api/v1/tickets/{ticket_id}/history")
        assert status == 404
        assert payload["error"]["code"] == "ticket_not_found"


def test_a_user_reads_only_its_own_tickets_history(api: Api, handler_db: Path) -> None:
    alice = {"X-Api-Key": create_key(handler_db, "alice", Role.USER)[1]}
    bob = {"X-Api-Key": create_key(handler_db, "bob", Role.USER)[1]}
    admin = {"X-Api-Key": create_key(handler_db, "root", Role.ADMIN)[1]}
    ticket = create(api, headers=alice)
    assert len(history(api, ticket["id"], alice)["entries"]) == 1
    assert len(history(api, ticket["id"], admin)["entries"]) == 1
    status, payload, _ = api.call("GET", f"/api/v1/tickets/{ticket['id']}/history", headers=bob)
    assert status == 403
    assert payload["error"]["code"] == "forbidden"


def test_an_impossible_history_is_a_500_not_a_made_up_answer(api: Api, handler_db: Path) -> None:
    ticket = create(api)
    conn = sqlite3.connect(handler_db)
    conn.execute("DELETE FROM audit_events WHERE ticket_id = ?", (ticket["id"],))
    conn.commit()
    conn.close()
    status, payload, _ = api.call("GET", f"/api/v1/tickets/{ticket['id']}/history")
    assert status == 500
    assert payload["error"]["code"] == "storage_corrupt"
    assert "inconsistent" in payload["error"]["message"]
