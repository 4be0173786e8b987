"""Backups over HTTP (admins only) and the Lambda's daily backup, through chalice.test.Client."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from chalicelib.settings import BACKUP_DIR_VARIABLE, DB_PATH_VARIABLE
from tests.handler.conftest import Api
from tests.helpers import example_ticket


@pytest.fixture(autouse=True)
def default_backup_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BACKUP_DIR_VARIABLE, raising=False)
    monkeypatch.delenv("TORRENTINO_BACKUP_EVERY_HOURS", raising=False)


def test_an_admin_takes_a_backup_and_lists_it(api: Api, handler_db: Path) -> None:
    api.call("POST", "/api/v1/tickets", example_ticket())
    status, created, _ = api.call("POST", "/api/v1/backups")
    assert status == 201, created
    assert created["verified"] is True
    assert created["tickets"] == 1
    assert created["removed"] == []
    assert (handler_db.parent / "backups" / created["name"]).is_file()  # beside the database

    status, listed, _ = api.call("GET", "/api/v1/backups")
    assert status == 200
    [info] = listed["backups"]
    assert info == {key: created[key] for key in info}
    assert set(info) == {"name", "taken_at", "size_bytes", "tickets", "verified", "problem"}
    _, audit, _ = api.call("GET", "/api/v1/audit?event_type=backup_created")
    assert [e["data"]["file"] for e in audit["events"]] == [created["name"]]


def test_users_may_not_see_or_take_backups(api: Api, handler_db: Path) -> None:
    _, user = create_key(handler_db, "alice", Role.USER)
    _, admin = create_key(handler_db, "root", Role.ADMIN)
    as_user = {"Authorization": f"Bearer {user}"}
    for method in ("GET", "POST"):
        status, error, _ = api.call(method, "/api/v1/backups", headers=as_user)
        assert status == 403
        assert error["error"]["code"] == "forbidden"
        assert "backup" in error["error"]["message"]
    assert not (handler_db.parent / "backups").exists()
    status, _, _ = api.call("POST", "/api/v1/backups", headers={"X-Api-Key": admin})
    assert status == 201


def test_an_unreadable_backup_folder_is_a_503_naming_it(
    api: Api, handler_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = handler_db.parent / "backups-file"
    not_a_folder.write_text("a file where the backup folder should be")
    monkeypatch.setenv(BACKUP_DIR_VARIABLE, str(not_a_folder))
    status, error, _ = api.call("GET", "/api/v1/backups")
    assert status == 503, error
    assert error["error"]["code"] == "storage_unavailable"
    assert str(not_a_folder) in error["error"]["message"]
    assert "Not a directory" in error["error"]["message"]


def test_a_body_is_refused(api: Api, handler_db: Path) -> None:
    status, error, _ = api.call("POST", "/api/v1/backups", {"now": True})
    assert status == 400
    assert error["error"]["code"] == "invalid_input"
    assert not (handler_db.parent / "backups").exists()


def test_both_routes_are_in_the_openapi_document(api: Api) -> None:
    _, document, _ = api.call("GET", "/api/v1/openapi.json")
    operations = document["paths"]["/api/v1/backups"]
    listed = operations["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    created = operations["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert listed == {"$ref": "#/components/schemas/BackupList"}
    assert created == {"$ref": "#/components/schemas/CreatedBackup"}
    assert {"403", "503"} <= set(operations["post"]["responses"])
    assert {"403", "503"} <= set(operations["get"]["responses"])
    fields = document["components"]["schemas"]["BackupInfo"]["properties"]
    assert {"name", "taken_at", "size_bytes", "tickets", "verified"} <= set(fields)


def test_the_lambda_schedule_takes_the_daily_backup_when_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "efs"
    monkeypatch.setenv(DB_PATH_VARIABLE, str(shared / "torrentino.db"))
    monkeypatch.setenv(BACKUP_DIR_VARIABLE, str(shared / "backups"))
    with Client(app) as client:
        event = client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        first = client.lambda_.invoke("scheduled_backup", event).payload
        second = client.lambda_.invoke("scheduled_backup", event).payload
    assert first["backup"] is not None
    assert (shared / "backups" / first["backup"]).is_file()
    assert second == {"backup": None}  # the newest is less than a day old
    conn = sqlite3.connect(shared / "torrentino.db")
    try:
        rows = conn.execute(
            "SELECT actor, json_extract(data, '$.file') FROM audit_events"
            " WHERE event_type = 'backup_created'"
        ).fetchall()
    finally:
        conn.close()
    assert rows == [("system", first["backup"])]
