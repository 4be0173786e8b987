"""The notification targets' API: who may add, list, test and remove which targets, every
bad input a 400 naming its field that changes nothing, and a target's secrets shown once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from tests.handler.conftest import Api
from tests.receivers import receiver

TARGETS = "/api/v1/notification-targets"
NTFY = "ntfy://tk_ntfysecret123@ntfy.example.com/household"


@pytest.fixture
def keys(api: Api, handler_db: Path) -> dict[str, dict[str, str]]:
    """An admin's and two users' keys, as headers."""
    del api
    made = {
        "admin": create_key(handler_db, "root", Role.ADMIN)[1],
        "bob": create_key(handler_db, "bob", Role.USER)[1],
        "carol": create_key(handler_db, "carol", Role.USER)[1],
    }
    return {name: {"X-Api-Key": key} for name, key in made.items()}


def everything(api: Api, headers: dict[str, str]) -> str:
    """Every answer an admin can read about targets and the log, as one text."""
    answers = [api.call("GET", TARGETS, headers=headers)[1]]
    answers.append(api.call("GET", "/api/v1/audit?limit=1000", headers=headers)[1])
    for target in answers[0]["targets"]:
        answers.append(api.call("GET", f"{TARGETS}/{target['id']}/deliveries", headers=headers)[1])
    return json.dumps(answers)


def test_a_webhooks_secret_is_shown_once_and_its_url_only_masked(
    api: Api, keys: dict[str, dict[str, str]]
) -> None:
    url = "https://hooks.example.com/n8n/webhook/5f1c-secret-path?token=querysecret"
    status, created, _ = api.call(
        "POST", TARGETS, {"url": url, "kind": "webhook"}, headers=keys["admin"]
    )
    assert status == 201, created
    assert created["secret"].startswith("whsec_")
    assert created["url"] == "https://hooks.example.com/***"
    assert created["service"] == "Webhook" and created["scope"] == "all"
    assert created["events"] == [] and created["state"] == "active"
    status, listed, _ = api.call("GET", TARGETS, headers=keys["admin"])
    [shown] = listed["targets"]
    assert "secret" not in shown and shown["url"] == created["url"]
    text = everything(api, keys["admin"])
    for secret in (created["secret"], "5f1c-secret-path", "querysecret"):
        assert secret not in text
    assert "notification_target_created" in text


def test_an_apprise_url_names_its_service_and_its_token_stays_hidden(
    api: Api, keys: dict[str, dict[str, str]]
) -> None:
    body = {"url": NTFY, "events": ["ticket_state_changed", "ticket_cancelled"]}
    status, created, _ = api.call("POST", TARGETS, body, headers=keys["admin"])
    assert status == 201, created
    assert created["service"] == "ntfy" and created["kind"] == "apprise"
    assert created["secret"] is None
    assert created["url"] == "ntfy://***@ntfy.example.com/***"
    assert created["events"] == ["ticket_cancelled", "ticket_state_changed"]
    assert "ntfysecret" not in everything(api, keys["admin"])


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({}, "url", "required"),
        ({"url": ""}, "url", "at least 1"),
        ({"url": "nosuchservice://host/x"}, "url", "Apprise does not know"),
        ({"url": "https://hooks.example.com/x"}, "url", '"kind": "webhook"'),
        ({"url": "ftp://hooks.example.com/x", "kind": "webhook"}, "url", "https://"),
        ({"url": "not a url", "kind": "webhook"}, "url", "URL"),
        ({"url": "http://169.254.169.254/latest", "kind": "webhook"}, "url", "metadata"),
        ({"url": "http://[fd00:ec2::254]/latest", "kind": "webhook"}, "url", "metadata"),
        ({"url": "json://127.0.0.1:9/x"}, "url", "TORRENTINO_NOTIFY_ALLOW_LOOPBACK"),
        ({"url": NTFY, "kind": "carrier-pigeon"}, "kind", "apprise"),
        ({"url": NTFY, "events": ["ticket_exploded"]}, "events.0", "ticket_created"),
        ({"url": NTFY, "colour": "red"}, "colour", "unknown field"),
        ({"url": "x" * 3000}, "url", "at most 2048"),
    ],
)
def test_a_bad_target_is_a_400_naming_its_field_and_changes_nothing(
    api: Api, keys: dict[str, dict[str, str]], body: dict[str, Any], field: str, says: str
) -> None:
    before = api.call("GET", "/api/v1/audit", headers=keys["admin"])[1]["total"]
    status, answer, _ = api.call("POST", TARGETS, body, headers=keys["admin"])
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_input"
    assert answer["error"]["details"][0]["field"] == field
    assert says in answer["error"]["message"]
    assert api.call("GET", TARGETS, headers=keys["admin"])[1]["targets"] == []
    assert api.call("GET", "/api/v1/audit", headers=keys["admin"])[1]["total"] == before


def test_a_user_subscribes_to_its_own_tickets_events_only(
    api: Api, keys: dict[str, dict[str, str]]
) -> None:
    status, refused, _ = api.call(
        "POST", TARGETS, {"url": NTFY, "events": ["backup_created"]}, headers=keys["bob"]
    )
    assert status == 403 and "backup_created" in refused["error"]["message"]
    status, bobs, _ = api.call(
        "POST", TARGETS, {"url": NTFY, "events": ["ticket_state_changed"]}, headers=keys["bob"]
    )
    assert status == 201 and bobs["scope"] == "own_tickets" and bobs["owner"] == "bob"
    admins = api.call("POST", TARGETS, {"url": NTFY}, headers=keys["admin"])[1]
    assert [t["id"] for t in api.call("GET", TARGETS, headers=keys["bob"])[1]["targets"]] == [
        bobs["id"]
    ]
    assert api.call("GET", TARGETS, headers=keys["carol"])[1]["targets"] == []
    every = api.call("GET", TARGETS, headers=keys["admin"])[1]["targets"]
    assert {t["id"] for t in every} == {bobs["id"], admins["id"]}
    for method, path in [
        ("DELETE", f"{TARGETS}/{admins['id']}"),
        ("POST", f"{TARGETS}/{admins['id']}/test"),
        ("GET", f"{TARGETS}/{admins['id']}/deliveries"),
        ("POST", f"{TARGETS}/{admins['id']}/resume"),
        ("DELETE", f"{TARGETS}/{bobs['id']}"),  # carol may not touch bob's either
    ]:
        who = keys["carol"] if bobs["id"] in path else keys["bob"]
        status, answer, _ = api.call(method, path, headers=who)
        assert status == 404, (method, path)
        assert answer["error"]["code"] == "notification_target_not_found"
    assert len(api.call("GET", TARGETS, headers=keys["admin"])[1]["targets"]) == 2


def test_removing_a_target_is_recorded_and_it_is_gone(
    api: Api, keys: dict[str, dict[str, str]]
) -> None:
    created = api.call("POST", TARGETS, {"url": NTFY}, headers=keys["bob"])[1]
    status, removed, _ = api.call("DELETE", f"{TARGETS}/{created['id']}", headers=keys["bob"])
    assert status == 200 and removed["id"] == created["id"]
    assert api.call("GET", TARGETS, headers=keys["bob"])[1]["targets"] == []
    again = api.call("DELETE", f"{TARGETS}/{created['id']}", headers=keys["bob"])
    assert again[0] == 404
    audit = api.call(
        "GET", "/api/v1/audit?event_type=notification_target_deleted", headers=keys["admin"]
    )
    [event] = audit[1]["events"]
    assert event["data"]["target_id"] == created["id"] and "ntfysecret" not in json.dumps(event)


def test_a_test_is_sent_now_and_recorded(
    api: Api, keys: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORRENTINO_NOTIFY_ALLOW_LOOPBACK", "1")
    with receiver() as hook:
        body = {"url": f"{hook.url}/hook", "kind": "webhook"}
        created = api.call("POST", TARGETS, body, headers=keys["admin"])[1]
        status, sent, _ = api.call("POST", f"{TARGETS}/{created['id']}/test", headers=keys["admin"])
        [got] = hook.wait_for(1)
    assert status == 200, sent
    assert sent["status"] == "delivered" and sent["event_id"] is None
    assert sent["response_status"] == 200 and sent["attempts"] == 1
    payload = got.verify(created["secret"])
    assert payload["event_type"] == "notification_test"
    assert got.headers["webhook-id"] == sent["message_id"]
    # The receiver is gone now: the test says so, and both are in the record.
    status, failed, _ = api.call("POST", f"{TARGETS}/{created['id']}/test", headers=keys["admin"])
    assert status == 200 and failed["status"] == "failed"
    assert "refused" in failed["last_error"]
    record = api.call("GET", f"{TARGETS}/{created['id']}/deliveries", headers=keys["admin"])[1]
    assert [d["status"] for d in record["deliveries"]] == ["failed", "delivered"]


def test_resuming_an_active_target_changes_nothing(
    api: Api, keys: dict[str, dict[str, str]]
) -> None:
    created = api.call("POST", TARGETS, {"url": NTFY}, headers=keys["bob"])[1]
    before = api.call("GET", "/api/v1/audit", headers=keys["admin"])[1]["total"]
    status, resumed, _ = api.call(
        "POST", f"{TARGETS}/{created['id']}/resume", {"skip_missed": True}, headers=keys["bob"]
    )
    assert status == 200 and resumed["state"] == "active"
    assert api.call("GET", "/api/v1/audit", headers=keys["admin"])[1]["total"] == before
    bad = api.call("POST", f"{TARGETS}/{created['id']}/resume", {"skip": 1}, headers=keys["bob"])
    assert bad[0] == 400 and bad[1]["error"]["details"][0]["field"] == "skip"


def test_the_routes_are_in_the_api_document(api: Api) -> None:
    doc = api.call("GET", "/api/v1/openapi.json")[1]
    paths = doc["paths"]
    assert set(paths[TARGETS]) == {"get", "post"}
    assert set(paths[f"{TARGETS}/{{target_id}}"]) == {"delete"}
    for action in ("test", "resume"):
        assert set(paths[f"{TARGETS}/{{target_id}}/{action}"]) == {"post"}
    assert set(paths[f"{TARGETS}/{{target_id}}/deliveries"]) == {"get"}
    create = paths[TARGETS]["post"]
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreatedTarget"
    }
    assert {"400", "403"} <= set(create["responses"])
    assert "secret" in doc["components"]["schemas"]["CreatedTarget"]["properties"]
    assert "secret" not in doc["components"]["schemas"]["NotificationTarget"]["properties"]
    assert "notification_given_up" in doc["components"]["schemas"]["AuditEventType"]["enum"]
