"""The seed's manual testing guide, step by step, against a server at any URL: directly
(tests/http/test_manual_guide.py) or through a reverse proxy (tests/proxy)."""

from __future__ import annotations

from typing import Any

import requests


def walk_manual_testing_guide(base: str) -> dict[str, Any]:
    """Run the guide's steps against the API at `base` (`…/api/v1`) on an empty database
    in open mode, checking each answer; the ticket as cancelled."""
    json_headers = {"Content-Type": "application/json"}

    # 1. Start the server: the caller did, as `make run` does.
    # 2. Create a ticket
    created = requests.post(
        f"{base}/tickets",
        headers=json_headers,
        data="""{
            "priority": 100,
            "query_context": {
              "tags": ["music", "flac"],
              "description": "Abbey Road by The Beatles"
            },
            "dest_path": "/media/music/beatles"
          }""",
        timeout=10,
    )
    assert created.status_code == 201
    ticket = created.json()
    ticket_id = ticket["id"]
    assert ticket["state"] == "pending"
    assert ticket["created_by"] == "anonymous"
    assert ticket["priority"] == 100
    assert ticket["query_context"] == {
        "tags": ["music", "flac"],
        "description": "Abbey Road by The Beatles",
    }
    assert ticket["dest_path"] == "/media/music/beatles"

    # 3. Get the ticket
    fetched = requests.get(f"{base}/tickets/{ticket_id}", timeout=10)
    assert fetched.status_code == 200
    assert fetched.json() == ticket

    # 4. List all tickets
    listed = requests.get(f"{base}/tickets?limit=10", timeout=10)
    assert listed.status_code == 200
    assert listed.json() == {
        "tickets": [ticket],
        "total": 1,
        "limit": 10,
        "offset": 0,
        "next": None,
    }

    # 5. List pending tickets only
    pending = requests.get(f"{base}/tickets?state=pending", timeout=10)
    assert pending.status_code == 200
    assert [t["id"] for t in pending.json()["tickets"]] == [ticket_id]
    assert pending.json()["total"] == 1

    # 6. Cancel the ticket
    cancelled = requests.delete(
        f"{base}/tickets/{ticket_id}",
        headers=json_headers,
        data='{"reason": "Testing cancellation"}',
        timeout=10,
    )
    assert cancelled.status_code == 200
    body: dict[str, Any] = cancelled.json()
    assert body["id"] == ticket_id
    assert body["state"]["cancelled"]["cancelled_by"] == "anonymous"
    assert body["state"]["cancelled"]["reason"] == "Testing cancellation"
    assert body["state"]["cancelled"]["cancelled_at"].endswith("Z")
    assert requests.get(f"{base}/tickets?state=pending", timeout=10).json()["total"] == 0

    # 7. Verify audit log
    created_events = requests.get(f"{base}/audit?event_type=ticket_created", timeout=10).json()
    assert [e["data"]["ticket_id"] for e in created_events["events"]] == [ticket_id]
    assert created_events["events"][0]["data"]["created_by"] == "anonymous"
    cancel_events = requests.get(f"{base}/audit?event_type=ticket_cancelled", timeout=10).json()
    (cancel_event,) = cancel_events["events"]
    assert cancel_event["data"] == {
        "ticket_id": ticket_id,
        "cancelled_by": "anonymous",
        "reason": "Testing cancellation",
        "previous_state": "pending",
    }

    # 8. Try to cancel again (should fail with 409)
    again = requests.delete(f"{base}/tickets/{ticket_id}", timeout=10)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"
    assert requests.get(f"{base}/tickets/{ticket_id}", timeout=10).json() == body
    return body
