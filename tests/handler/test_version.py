"""torrentino's version: one place (`chalicelib.__version__`), served without a key by
GET /api/v1/version with the schema it works on, and in the OpenAPI document; and a backup
taken over HTTP is a manual one."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib import __version__
from chalicelib.backups.files import list_backups
from chalicelib.backups.kinds import BackupKind
from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from chalicelib.settings import BACKUP_DIR_VARIABLE
from chalicelib.storage import migrations
from tests.handler.conftest import Api


def test_the_version_route_needs_no_key_and_touches_no_database(api: Api, tmp_path: Path) -> None:
    status, answer, _ = api.call("GET", "/api/v1/version")
    assert status == 200
    assert answer == {"version": __version__, "schema_version": len(migrations.MIGRATIONS)}
    assert not (tmp_path / "handler.db").exists()


def test_the_version_is_served_once_keys_exist(api: Api, handler_db: Path) -> None:
    create_key(handler_db, "root", Role.ADMIN)
    assert api.call("GET", "/api/v1/tickets")[0] == 401
    assert api.call("GET", "/api/v1/version")[1]["version"] == __version__


def test_the_openapi_document_carries_the_version_and_describes_the_route(api: Api) -> None:
    _, document, _ = api.call("GET", "/api/v1/openapi.json")
    assert document["info"]["version"] == __version__
    answer = document["paths"]["/api/v1/version"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/VersionInfo"
    }
    assert set(document["components"]["schemas"]["VersionInfo"]["required"]) == {
        "version",
        "schema_version",
    }


def test_a_backup_taken_over_http_is_a_manual_one(
    api: Api, handler_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BACKUP_DIR_VARIABLE, raising=False)
    status, created, _ = api.call("POST", "/api/v1/backups")
    assert status == 201, created
    assert created["name"].endswith("Z-manual.db")
    [info] = list_backups(handler_db.parent / "backups", handler_db.stem)
    assert info.kind is BackupKind.MANUAL
    _, audit, _ = api.call("GET", "/api/v1/audit?event_type=backup_created")
    assert audit["events"][0]["data"]["kind"] == "manual"
