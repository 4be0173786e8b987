"""Error responses over real HTTP: one JSON shape, the right status, nothing written."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import requests

from harness.server_process import Server
from tests.helpers import example_ticket, row_counts

JSON = {"Content-Type": "application/json"}


def assert_error(response: requests.Response, status: int, code: str, needle: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    payload = response.json()
    assert set(payload) == {"error"}
    assert payload["error"]["code"] == code
    assert needle in payload["error"]["message"]
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/index.html"),  # "/" is the web page (tests/http/test_webpage.py)
        ("GET", "/nope"),
        ("GET", "/api/v1/nope"),
        ("POST", "/api/v2/tickets"),
        ("GET", "/api/v1/tickets/x/y/z"),
        ("DELETE", "/a/b/c/d/e/f/g/h/i/j/k"),
    ],
)
def test_unknown_route_is_a_json_404(server: Server, method: str, path: str) -> None:
    response = requests.request(method, server.url + path, timeout=10)
    assert_error(response, 404, "route_not_found", path)


def test_unknown_route_with_an_authorization_header_is_still_404(server: Server) -> None:
    response = requests.get(server.url + "/nope", headers={"Authorization": "Bearer x"}, timeout=10)
    assert_error(response, 404, "route_not_found")


def test_wrong_method_is_405(server: Server) -> None:
    response = requests.patch(server.url + "/api/v1/tickets", timeout=10)
    assert_error(response, 405, "method_not_allowed", "PATCH")


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[1]", "JSON object"),
        (json.dumps(example_ticket(priority="high")), "priority"),
        (json.dumps(example_ticket(priority=70000)), "priority"),
        (json.dumps(example_ticket(dest_path="")), "dest_path"),
        (json.dumps(example_ticket(query_context={"tags": [None], "description": ""})), "tags"),
        (json.dumps(example_ticket(color="red")), "color"),
    ],
)
def test_bad_create_is_400_and_writes_nothing(server: Server, data: str, needle: str) -> None:
    before = row_counts(server.db_path)
    response = requests.post(server.url + "/api/v1/tickets", data=data, headers=JSON, timeout=10)
    assert_error(response, 400, "invalid_input", needle)
    assert row_counts(server.db_path) == before


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "limit=x", "offset=-1", "state=running", "limit=5&limit=6"]
)
def test_bad_list_query_is_400(server: Server, query: str) -> None:
    response = requests.get(f"{server.url}/api/v1/tickets?{query}", timeout=10)
    assert_error(response, 400, "invalid_input", query.split("=", maxsplit=1)[0])


def test_non_string_reason_is_400(server: Server) -> None:
    ticket = requests.post(server.url + "/api/v1/tickets", json=example_ticket(), timeout=10).json()
    response = requests.delete(
        f"{server.url}/api/v1/tickets/{ticket['id']}", json={"reason": 42}, timeout=10
    )
    assert_error(response, 400, "invalid_input", "reason")
    assert requests.get(f"{server.url}/api/v1/tickets/{ticket['id']}", timeout=10).json() == ticket


@pytest.mark.parametrize("ticket_id", ["00000000-0000-4000-8000-000000000000", "malformed"])
def test_unknown_ticket_is_404(server: Server, ticket_id: str) -> None:
    for method in ("GET", "DELETE"):
        response = requests.request(method, f"{server.url}/api/v1/tickets/{ticket_id}", timeout=10)
        assert_error(response, 404, "ticket_not_found", ticket_id)


def test_body_over_one_mebibyte_is_413_without_reading_it(server: Server) -> None:
    before = row_counts(server.db_path)
    body = json.dumps(example_ticket(query_context={"tags": [], "description": "x" * 2_000_000}))
    response = requests.post(server.url + "/api/v1/tickets", data=body, headers=JSON, timeout=30)
    assert_error(response, 413, "payload_too_large")
    assert row_counts(server.db_path) == before


def test_a_declared_huge_body_is_refused_before_it_is_sent(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000000\r\n\r\n"
        )
        chunks = []
        while chunk := sock.recv(65536):  # the server closes the connection after replying
            chunks.append(chunk)
        reply = b"".join(chunks).decode()
    assert reply.startswith("HTTP/1.1 413")
    assert "payload_too_large" in reply


def test_storage_failure_is_a_json_500_without_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"definitely not an SQLite database " * 200)
    server = Server(broken).start()
    try:
        response = requests.get(server.url + "/api/v1/tickets", timeout=10)
        assert_error(response, 500, "storage_corrupt")
        assert "/api/v1/tickets" not in response.json()["error"]["message"]
    finally:
        server.stop()
