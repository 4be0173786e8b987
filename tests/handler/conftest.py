"""Handler tests: requests through Chalice's own test client, on a fresh database each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.service import startup
from chalicelib.settings import DB_PATH_VARIABLE


class Api:
    """A thin JSON wrapper over chalice.test.Client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        sent_headers = dict(headers or {})
        if body is not None:
            raw = json.dumps(body)
        if raw is not None:
            sent_headers.setdefault("Content-Type", "application/json")
        data = raw.encode() if isinstance(raw, str) else (raw or b"")
        response = self.client.http.request(method, path, headers=sent_headers, body=data)
        payload = json.loads(response.body) if response.body else None
        return response.status_code, payload, response.headers

    def pages(self, url: str) -> Iterator[tuple[Any, dict[str, str]]]:
        """Each page and its headers from `url` on, following `next` to the last; each
        answered 200."""
        next_url: str | None = url
        while next_url is not None:
            status, page, headers = self.call("GET", next_url)
            assert status == 200, page
            yield page, headers
            next_url = page["next"]


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    db_path = tmp_path / "handler.db"
    monkeypatch.setenv(DB_PATH_VARIABLE, str(db_path))
    try:
        with Client(app) as client:
            yield Api(client)
    finally:
        # What the first request started stays open for the process's life, as on a server
        # (the idle connection, the in-use lock); a test's database is done with here, and
        # a thousand tests' open files would run the test process out of descriptors.
        startup.stop(db_path)


@pytest.fixture
def handler_db(api: Api, tmp_path: Path) -> Path:
    api.call("GET", "/api/v1/tickets")  # the first request starts the service
    return tmp_path / "handler.db"
