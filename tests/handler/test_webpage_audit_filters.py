"""The rule the page's audit filters rely on: a user sees the events of its own tickets
only, and those are exactly the event types named `ticket_...`, so a user's page offers
those types and no other (tests/browser/test_plain_words.py shows the page doing it)."""

from __future__ import annotations

from pathlib import Path

from chalicelib.audit.events import AuditEventType
from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from tests.handler.conftest import Api
from tests.helpers import example_ticket


def test_an_event_is_about_a_ticket_exactly_when_its_type_is_named_ticket(
    api: Api, handler_db: Path
) -> None:
    admin = {"X-Api-Key": create_key(handler_db, "root", Role.ADMIN)[1]}
    user = {"X-Api-Key": create_key(handler_db, "ann", Role.USER)[1]}
    made = api.call("POST", "/api/v1/keys", {"user": "ben"}, headers=admin)[1]
    api.call("DELETE", f"/api/v1/keys/{made['id']}", headers=admin)
    dest = {"name": "Music", "root": "/media/music"}
    added = api.call("POST", "/api/v1/destinations", dest, headers=admin)[1]
    filed = [api.call("POST", "/api/v1/tickets", example_ticket(), headers=user) for _ in range(3)]
    ids = [answer[1]["id"] for answer in filed]
    edited = api.call("PATCH", f"/api/v1/tickets/{ids[0]}", {"priority": 7}, headers=user)
    assert edited[0] == 200, edited
    assert api.call("DELETE", f"/api/v1/tickets/{ids[0]}", headers=user)[0] < 300
    assert api.call("POST", f"/api/v1/tickets/{ids[1]}/complete", headers=admin)[0] < 300
    failed = api.call("POST", f"/api/v1/tickets/{ids[2]}/fail", {"error": "x"}, headers=admin)
    assert failed[0] < 300
    api.call("DELETE", f"/api/v1/destinations/{added['id']}", headers=admin)

    status, everything, _ = api.call("GET", "/api/v1/audit?limit=1000", headers=admin)
    assert status == 200
    seen = {event["event_type"] for event in everything["events"]}
    # What this test does not provoke: backups and notifications, which concern no ticket.
    unseen = {t.value for t in AuditEventType} - seen
    assert all(name.startswith(("backup_", "notification_")) for name in unseen), unseen
    for event in everything["events"]:
        about_a_ticket = event["data"].get("ticket_id") is not None
        assert about_a_ticket == event["event_type"].startswith("ticket_"), event
    # What a user sees of the log: its own tickets' events, all of them ticket_ types.
    mine = api.call("GET", "/api/v1/audit?limit=1000", headers=user)[1]["events"]
    assert mine and all(event["event_type"].startswith("ticket_") for event in mine)
    about_tickets = [e for e in everything["events"] if e["event_type"].startswith("ticket_")]
    assert mine == about_tickets
