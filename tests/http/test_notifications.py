"""Notifications from a real server (`make run`'s launcher): its delivery thread sends each
event on its own, a server killed in the middle of a delivery sends it again when started
(the same webhook-id), and no secret of a target appears in any answer or in the log."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import requests

from harness.server_process import Server
from tests.helpers import example_ticket
from tests.receivers import Behaviour, receiver

# Receivers on this machine; the delivery thread on (test servers start without it).
LOOPBACK = {"TORRENTINO_NOTIFY_ALLOW_LOOPBACK": "1", "TORRENTINO_NOTIFY_DELIVERY": "1"}
TARGETS = "/api/v1/notification-targets"


def post(server: Server, path: str, body: Any = None) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body, timeout=30)


def get(server: Server, path: str) -> Any:
    response = requests.get(f"{server.url}{path}", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_record(server: Server, target_id: str, message_id: str) -> dict[str, Any]:
    """The delivery of one message, once it is delivered."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = get(server, f"{TARGETS}/{target_id}/deliveries")["deliveries"]
        for record in found:
            if record["message_id"] == message_id and record["status"] == "delivered":
                return dict(record)
        time.sleep(0.1)
    raise AssertionError(f"{message_id} was not delivered: {found}")


def test_the_servers_delivery_thread_sends_each_event_signed(tmp_path: Path) -> None:
    with receiver() as hook, Server(tmp_path / "notify.db", env=LOOPBACK) as server:
        created = post(server, TARGETS, {"url": f"{hook.url}/hook", "kind": "webhook"}).json()
        ticket = post(server, "/api/v1/tickets", example_ticket()).json()
        post(server, f"/api/v1/tickets/{ticket['id']}/complete")
        got = hook.wait_for(2)  # no one asked for it: the server's own thread sent it
    events = [request.verify(created["secret"]) for request in got]
    assert [e["event_type"] for e in events] == ["ticket_created", "ticket_state_changed"]
    assert {e["data"]["ticket_id"] for e in events} == {ticket["id"]}


def test_a_server_killed_mid_delivery_sends_it_again_when_started(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    with receiver(Behaviour(delay=30.0)) as hook:
        first = Server(db, env=LOOPBACK).start()
        try:
            created = post(first, TARGETS, {"url": hook.url, "kind": "webhook"}).json()
            post(first, "/api/v1/tickets", example_ticket())
            [during] = hook.wait_for(1)  # the delivery is under way: the receiver holds it
        finally:
            first.stop(signal.SIGKILL)
        hook.behaviour = Behaviour()  # answering at once from now on
        with Server(db, env=LOOPBACK) as again:
            record = wait_for_record(again, created["id"], during.headers["webhook-id"])
        after = hook.wait_for(2)[1]
    assert during.headers["webhook-id"] == after.headers["webhook-id"]
    assert after.verify(created["secret"])["event_type"] == "ticket_created"
    assert record["attempts"] == 1  # the attempt the crash cut short left no record


def test_no_secret_of_a_target_is_in_any_answer_or_the_log(tmp_path: Path) -> None:
    secrets = ["hooksecretpath", "basicuser", "basicpassword", "querytoken", "jsonpassword"]
    with receiver() as hook, Server(tmp_path / "secrets.db", env=LOOPBACK) as server:
        base = f"127.0.0.1:{hook.port}"
        answers = [
            post(server, TARGETS, body).json()
            for body in (
                {
                    "url": f"http://basicuser:basicpassword@{base}/hooksecretpath?t=querytoken",
                    "kind": "webhook",
                },
                {"url": f"json://jsonuser:jsonpassword@{base}/hooksecretpath"},
                # Nothing listens here: failures, with their errors, must not tell either.
                {
                    "url": "http://basicuser:basicpassword@127.0.0.1:9/hooksecretpath",
                    "kind": "webhook",
                },
                {"url": "json://jsonuser:jsonpassword@127.0.0.1:9/hooksecretpath?querytoken=1"},
            )
        ]
        post(server, "/api/v1/tickets", example_ticket())
        for created in answers:
            post(server, f"{TARGETS}/{created['id']}/test")
        hook.wait_for(4)
        time.sleep(1)  # the failing ones have tried too
        answers += [get(server, TARGETS), get(server, "/api/v1/audit?limit=1000")]
        answers += [get(server, f"{TARGETS}/{a['id']}/deliveries") for a in answers[:4]]
        answers += [post(server, f"{TARGETS}/{a['id']}/resume").json() for a in answers[:4]]
        answers += [
            requests.delete(f"{server.url}{TARGETS}/{a['id']}", timeout=30).json()
            for a in answers[:4]
        ]
        log = server.log()
    assert hook.requests[0].headers["authorization"].startswith("Basic ")  # they were used
    text = json.dumps(answers)
    assert "connection refused" in text  # the failures are told, without the secrets
    for secret in secrets:
        assert secret not in text, secret
        assert secret not in log, secret
