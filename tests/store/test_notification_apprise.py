"""Apprise targets delivered to real receivers on this machine: `json://` and `ntfy://` over
plain HTTP to a stub server, `mailto://` to an SMTP server (aiosmtpd), each with the short
human message of its event; and the address rules and limits holding for Apprise's own
connections too."""

from __future__ import annotations

from pathlib import Path

from chalicelib.notifications.addresses import AddressPolicy
from chalicelib.notifications.delivery import deliver_due
from chalicelib.service.unit_of_work import open_storage
from tests.receivers import Behaviour, receiver, smtp_server
from tests.store.test_notification_delivery import (
    LOOPBACK,
    add_target,
    deliveries,
    file_ticket,
    list_targets,
)


def complete(db: Path, ticket_id: str) -> None:
    with open_storage(db) as storage:
        storage.tickets.complete(ticket_id, actor="admin")


def test_json_gets_each_event_as_a_message_in_order(db_path: Path) -> None:
    with receiver() as stub:
        target = add_target(db_path, f"json://127.0.0.1:{stub.port}/notify", kind="apprise")
        ticket = file_ticket(db_path, "Abbey Road by The Beatles")
        complete(db_path, ticket)
        assert deliver_due(db_path, worker="test", policy=LOOPBACK).delivered == 2
        got = stub.wait_for(2)
    assert [r.path for r in got] == ["/notify", "/notify"]
    assert [r.json()["message"] for r in got] == [
        "Abbey Road by The Beatles: filed by alice",
        "Abbey Road by The Beatles: completed",
    ]
    assert {r.json()["title"] for r in got} == {"torrentino"}
    assert [d["status"] for d in deliveries(db_path, target.id)] == ["delivered", "delivered"]


def test_ntfy_over_plain_http_gets_its_topic_and_message(db_path: Path) -> None:
    with receiver() as stub:
        url = f"ntfy://tk_secrettoken@127.0.0.1:{stub.port}/household?mode=private"
        add_target(db_path, url, kind="apprise", events=["ticket_state_changed"])
        ticket = file_ticket(db_path, "Kind of Blue, FLAC")
        complete(db_path, ticket)
        deliver_due(db_path, worker="test", policy=LOOPBACK)
        [got] = stub.wait_for(1)
    assert got.json()["topic"] == "household"
    assert got.json()["message"] == "Kind of Blue, FLAC: completed"
    assert got.headers["authorization"] == "Bearer tk_secrettoken"  # it reached the receiver


def test_mailto_sends_an_email_to_a_local_smtp_server(db_path: Path) -> None:
    with smtp_server() as (port, messages):
        url = f"mailto://127.0.0.1:{port}?to=alice@example.com&from=torrentino@example.com"
        add_target(db_path, url, kind="apprise")
        file_ticket(db_path, "Abbey Road")
        assert deliver_due(db_path, worker="test", policy=LOOPBACK).delivered == 1
    [mail] = messages
    assert mail["To"] == "alice@example.com"
    assert mail["Subject"] == "torrentino"
    texts = [part.get_payload(decode=True) for part in mail.walk() if not part.is_multipart()]
    assert any(b"Abbey Road: filed by alice" in text for text in texts), texts


def test_apprise_connections_keep_the_address_rules(db_path: Path) -> None:
    with receiver() as stub, smtp_server() as (port, messages):
        add_target(db_path, f"json://localhost:{stub.port}/x", kind="apprise")
        add_target(db_path, f"mailto://localhost:{port}?to=a@example.com", kind="apprise")
        file_ticket(db_path, "Refused")
        strict = deliver_due(db_path, worker="test", policy=AddressPolicy())
    assert strict.failed == 2 and strict.delivered == 0
    assert stub.requests == [] and messages == []
    errors = [target["last_error"] for target in list_targets(db_path)]
    assert any("TORRENTINO_NOTIFY_ALLOW_LOOPBACK" in str(error) for error in errors), errors


def test_apprise_reads_a_bounded_answer_follows_no_redirect_and_pauses_on_410(
    db_path: Path,
) -> None:
    with receiver() as elsewhere:
        moved = Behaviour(statuses=[301], headers={"Location": f"{elsewhere.url}/moved"})
        with receiver(moved) as stub:
            add_target(db_path, f"json://127.0.0.1:{stub.port}/x", kind="apprise")
            file_ticket(db_path, "Moved away")
            assert deliver_due(db_path, worker="test", policy=LOOPBACK).failed == 1
            stub.wait_for(1)
    assert elsewhere.requests == []
    with receiver(Behaviour(statuses=[410])) as gone:
        target = add_target(db_path, f"json://127.0.0.1:{gone.port}/x", kind="apprise")
        file_ticket(db_path, "Gone")
        assert deliver_due(db_path, worker="test", policy=LOOPBACK).paused == 1
    paused = next(t for t in list_targets(db_path) if t["id"] == target.id)
    assert paused["state"] == "paused" and "410" in paused["paused_reason"]
    with receiver(Behaviour(body_size=50 * 1024 * 1024)) as huge:
        add_target(db_path, f"json://127.0.0.1:{huge.port}/x", kind="apprise")
        file_ticket(db_path, "Huge answer")
        deliver_due(db_path, worker="test", policy=LOOPBACK)
        assert huge.wait_until_write_fails()
