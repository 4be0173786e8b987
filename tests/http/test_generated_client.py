"""A Python client generated from the served OpenAPI document works against a real server.

The client is generated fresh by openapi-python-client in each run (never committed), so
a change to the document that breaks generated clients fails here.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from harness.server_process import Server

BIN = Path(sys.executable).parent


def generate_client(server: Server, directory: Path) -> Path:
    """Generate the client package from the server's document; return its parent directory."""
    document = directory / "openapi.json"
    document.write_bytes(requests.get(f"{server.url}/api/v1/openapi.json", timeout=10).content)
    output = directory / "generated"
    subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(output / "torrentino_client"),
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        timeout=300,
    )
    return output


def load(name: str) -> ModuleType:
    return importlib.import_module(f"torrentino_client.{name}")


def test_a_generated_client_creates_lists_and_cancels(
    fresh_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(generate_client(fresh_server, tmp_path)))
    for module in [m for m in sys.modules if m.startswith("torrentino_client")]:
        monkeypatch.delitem(sys.modules, module)
    client = load("client").Client(base_url=fresh_server.url, raise_on_unexpected_status=True)
    create = load("api.tickets.create_ticket")
    list_tickets = load("api.tickets.list_tickets")
    cancel = load("api.tickets.cancel_ticket")
    models = load("models")

    body = models.CreateTicketRequest(
        priority=100,
        query_context=models.QueryContext(
            tags=["music", "flac"], description="Abbey Road by The Beatles"
        ),
        dest_path="/media/music/beatles",
    )
    created = create.sync_detailed(client=client, body=body, idempotency_key="generated-1")
    assert created.status_code == 201
    ticket = created.parsed
    assert isinstance(ticket, models.Ticket)
    assert ticket.state == "pending"
    assert ticket.query_context.tags == ["music", "flac"]
    # A retry with the same key is the same ticket.
    again = create.sync(client=client, body=body, idempotency_key="generated-1")
    assert again.id == ticket.id
    second = create.sync(client=client, body=body)

    page = list_tickets.sync(client=client, state=[models.ListTicketsStateItem.PENDING], limit=1)
    assert isinstance(page, models.TicketPage)
    assert page.total == 2
    assert [t.id for t in page.tickets] == [ticket.id]
    # The `next` link continues with a cursor the client can send back as typed.
    assert isinstance(page.next_, str)
    (after,) = parse_qs(urlsplit(page.next_).query)["after"]
    rest = list_tickets.sync(
        client=client, state=[models.ListTicketsStateItem.PENDING], after=after
    )
    assert [t.id for t in rest.tickets] == [second.id]

    cancelled = cancel.sync_detailed(
        ticket.id,
        client=client,
        body=models.CancelTicketRequest(reason="Testing cancellation"),
        if_match=created.headers["ETag"],
    )
    assert cancelled.status_code == 200
    assert isinstance(cancelled.parsed.state, models.TicketCancelled)
    assert cancelled.parsed.state.cancelled.reason == "Testing cancellation"

    history = load("api.audit.ticket_history").sync(ticket.id, client=client)
    assert next(entry.state for entry in history.entries) == "pending"
    assert isinstance(history.entries[-1].state, models.HistoryEntryCancelled)
    events = load("api.audit.list_audit_events").sync(client=client, after=0)
    assert [e.event_type.value for e in events.events] == [
        "service_started",
        "ticket_created",
        "ticket_created",
        "ticket_cancelled",
    ]

    # Errors come back as the document's ErrorResponse.
    refused = cancel.sync_detailed(ticket.id, client=client)
    assert refused.status_code == 409
    assert isinstance(refused.parsed, models.ErrorResponse)
    assert refused.parsed.error.code == "invalid_transition"


def test_a_generated_client_edits_a_ticket_with_a_merge_patch(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(generate_client(server, tmp_path)))
    for module in [m for m in sys.modules if m.startswith("torrentino_client")]:
        monkeypatch.delitem(sys.modules, module)
    client = load("client").Client(base_url=server.url, raise_on_unexpected_status=True)
    models = load("models")
    edit = load("api.tickets.edit_ticket")
    created = load("api.tickets.create_ticket").sync_detailed(
        client=client,
        body=models.CreateTicketRequest(
            priority=100,
            query_context=models.QueryContext(tags=["music"], description="Revolver"),
            dest_path="/media/music/beatles",
        ),
    )
    ticket = created.parsed

    patch = models.UpdateTicketRequest(
        priority=250, query_context=models.QueryContextPatch(tags=["music", "flac"])
    )
    edited = edit.sync_detailed(
        ticket.id, client=client, body=patch, if_match=created.headers["ETag"]
    )
    assert edited.status_code == 200
    assert edited.parsed.priority == 250
    assert edited.parsed.query_context.tags == ["music", "flac"]
    assert edited.parsed.query_context.description == "Revolver"
    assert edited.headers["ETag"] != created.headers["ETag"]

    # The old ETag is stale now: the document's 412, as an ErrorResponse.
    stale = edit.sync_detailed(
        ticket.id, client=client, body=patch, if_match=created.headers["ETag"]
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.ErrorResponse)
    assert stale.parsed.error.code == "precondition_failed"
    events = load("api.audit.list_audit_events").sync(
        client=client,
        event_type=[models.AuditEventType.TICKET_UPDATED],
        ticket_id=ticket.id,
    )
    assert [e.data.additional_properties["actor"] for e in events.events] == ["anonymous"]
