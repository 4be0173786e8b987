"""Hostile input over real HTTP: stored exactly as sent when it is valid data, otherwise
a clear 4xx that writes nothing; never a 5xx, and the server stays up throughout."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from chalicelib.backups.check import check_database
from harness.server_process import Server
from tests.helpers import example_ticket, row_counts

JSON = {"Content-Type": "application/json"}
TIMEOUT = 30
SQL = ["'; DROP TABLE tickets; --", '" OR "1"="1', "' OR 1=1 --", "%", "_", "\\", "*/ /*", "`;`"]


@pytest.fixture(autouse=True)
def stays_up_and_consistent(server: Server) -> Iterator[None]:
    """After every test: the server answers, logged no traceback, and the data checks out."""
    yield
    assert requests.get(f"{server.url}/api/v1/tickets?limit=1", timeout=TIMEOUT).status_code == 200
    assert server.process is not None and server.process.poll() is None
    assert "Traceback" not in server.log()
    report = check_database(server.db_path)
    assert report.ok, report.problems


def post(server: Server, data: bytes | str, headers: dict[str, str] = JSON) -> requests.Response:
    return requests.post(
        f"{server.url}/api/v1/tickets", data=data, headers=headers, timeout=TIMEOUT
    )


def assert_refused(response: requests.Response, *statuses: int) -> None:
    assert response.status_code in (statuses or (400,)), response.text[:500]
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] in {
        "invalid_input",
        "payload_too_large",
        "unsupported_media_type",
        "ticket_not_found",
        "route_not_found",
        "method_not_allowed",
    }
    assert error["message"]
    assert "Traceback" not in response.text


# --- valid data, however odd, is stored and returned exactly --------------------------

ODD_BUT_VALID: dict[str, dict[str, Any]] = {
    "sql in description": example_ticket(
        query_context={"tags": ["x"], "description": " ".join(SQL)}
    ),
    "sql in every tag": example_ticket(query_context={"tags": SQL, "description": ""}),
    "sql in dest_path": example_ticket(
        dest_path="/media/" + "/".join(s.replace("/", "") for s in SQL)
    ),
    "quotes and backslashes": example_ticket(
        query_context={"tags": ['"', "'"], "description": "say \"hi\" \\ 'there' \\n \\u0000"}
    ),
    "NUL and controls in description": example_ticket(
        query_context={"tags": ["x"], "description": "a\x00b\x07c\x1bd\x7fe\x85f\r\n\t"}
    ),
    "emoji, RTL, combining, U+2028": example_ticket(
        query_context={"tags": ["🎵", "مرحبا", "e\u0301"], "description": "😀\u202e\u2028\ufeff"},
        dest_path="/media/🎵/مرحبا/e\u0301",
    ),
    "dots that are not a .. segment": example_ticket(dest_path="/media/.../..x/x../.hidden/./"),
    "root and repeated slashes": example_ticket(dest_path="//media///x/"),
    "bounds exactly": example_ticket(
        priority=65535,
        query_context={"tags": ["t" * 99 + "é"] * 100, "description": "é" * 10_000},
        dest_path="/" + "é" * 2047 + "x",  # 4,096 bytes
    ),
    "lowest priority, empty text": example_ticket(
        priority=0, query_context={"tags": [], "description": ""}
    ),
}


@pytest.mark.parametrize("body", ODD_BUT_VALID.values(), ids=ODD_BUT_VALID.keys())
def test_odd_but_valid_data_is_stored_exactly(server: Server, body: dict[str, Any]) -> None:
    created = post(server, json.dumps(body))
    assert created.status_code == 201, created.text[:500]
    ticket = created.json()
    assert {k: ticket[k] for k in body} == body
    fetched = requests.get(f"{server.url}/api/v1/tickets/{ticket['id']}", timeout=TIMEOUT)
    assert fetched.json() == ticket
    events = requests.get(
        f"{server.url}/api/v1/audit", params={"ticket_id": ticket["id"]}, timeout=TIMEOUT
    ).json()["events"]
    assert [e["event_type"] for e in events] == ["ticket_created"]
    assert {k: events[0]["data"][k] for k in body} == body


@pytest.mark.parametrize("reason", [*SQL, "a\x00b", "😀" * 10_000, ""])
def test_odd_but_valid_cancel_reasons_are_stored_exactly(server: Server, reason: str) -> None:
    ticket = post(server, json.dumps(example_ticket())).json()
    url = f"{server.url}/api/v1/tickets/{ticket['id']}"
    cancelled = requests.delete(url, json={"reason": reason}, timeout=TIMEOUT)
    assert cancelled.status_code == 200
    assert cancelled.json()["state"]["cancelled"]["reason"] == reason
    assert requests.get(url, timeout=TIMEOUT).json() == cancelled.json()


# --- invalid bodies are refused and write nothing ---------------------------------------


def with_context(tags: Any = None, description: Any = "") -> str:
    return json.dumps(
        example_ticket(query_context={"tags": tags or [], "description": description})
    )


def deep(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def with_raw_priority(raw: str) -> str:
    return json.dumps(example_ticket(priority=0)).replace('"priority": 0', f'"priority": {raw}')


def with_raw_description(raw: str) -> bytes:
    return (
        '{"priority": 1, "query_context": {"tags": [], "description": "' + raw + '"},'
        ' "dest_path": "/x"}'
    ).encode("utf-8", "surrogatepass")


REFUSED_BODIES: dict[str, str | bytes] = {
    "nesting 100,000 deep": deep(100_000),
    "nesting inside tags": with_context(tags=None).replace('"tags": []', '"tags": ' + deep(50_000)),
    "objects nested deep": '{"a":' * 50_000 + "1" + "}" * 50_000,
    "100,000 tags": with_context(tags=["a"] * 100_000),
    "101 tags": with_context(tags=["a"] * 101),
    "empty tag": with_context(tags=[""]),
    "101-character tag": with_context(tags=["a" * 101]),
    "NUL in a tag": with_context(tags=["a\x00b"]),
    "newline in a tag": with_context(tags=["a\nb"]),
    "C1 control in a tag": with_context(tags=["a\x85b"]),
    "description of 10,001 characters": with_context(description="a" * 10_001),
    "description of 1,000,000 characters": with_context(description="a" * 1_000_000),
    "raw NUL byte in a string": with_raw_description("a\x00b"),
    "raw newline in a string": with_raw_description("a\nb"),
    "invalid UTF-8 in a string": with_raw_description("a").replace(b'"a"', b'"a\xff\xfe"'),
    "invalid UTF-8 in a key": b'{"\xff": 1}',
    "overlong UTF-8": with_raw_description("a").replace(b'"a"', b'"\xc0\xaf"'),
    "encoded surrogate in UTF-8": with_raw_description("\ud800"),
    "lone high surrogate": with_raw_description("\\ud800"),
    "lone low surrogate": with_raw_description("\\udc00x"),
    "surrogate in a tag": with_context(tags=["\ud800"]).replace("\\ud800", "\\udbff"),
    "surrogate in dest_path": json.dumps(example_ticket(dest_path="/x/\udfff")),
    "priority 10^30": with_raw_priority("1" + "0" * 30),
    "priority -10^30": with_raw_priority("-1" + "0" * 30),
    "priority with 5,000 digits": with_raw_priority("9" * 5000),
    "priority 1e30": with_raw_priority("1e30"),
    "priority 1.5": with_raw_priority("1.5"),
    "priority 65536": with_raw_priority("65536"),
    "priority -1": with_raw_priority("-1"),
    "priority NaN": with_raw_priority("NaN"),
    "priority Infinity": with_raw_priority("Infinity"),
    "priority true": with_raw_priority("true"),
    "priority as string": with_raw_priority('"1"'),
    "dest_path with .. segment": json.dumps(example_ticket(dest_path="/media/../etc")),
    "dest_path ending in ..": json.dumps(example_ticket(dest_path="/media/..")),
    "dest_path ..": json.dumps(example_ticket(dest_path="..")),
    "dest_path relative": json.dumps(example_ticket(dest_path="media/music")),
    "dest_path ./": json.dumps(example_ticket(dest_path="./media")),
    "dest_path Windows": json.dumps(example_ticket(dest_path="C:\\media")),
    "dest_path empty": json.dumps(example_ticket(dest_path="")),
    "dest_path NUL": json.dumps(example_ticket(dest_path="/media/\x00/x")),
    "dest_path newline": json.dumps(example_ticket(dest_path="/media/\n")),
    "dest_path DEL": json.dumps(example_ticket(dest_path="/media/\x7f")),
    "dest_path C1 control": json.dumps(example_ticket(dest_path="/media/\x9b")),
    "dest_path 4,097 bytes": json.dumps(example_ticket(dest_path="/" + "a" * 4096)),
    "dest_path 4,097 bytes of é": json.dumps(example_ticket(dest_path="/" + "é" * 2048)),
    "SQL as a field name": json.dumps(example_ticket(**{"priority) VALUES (1); --": 1})),
    "form-encoded body": "priority=1&dest_path=/x",
    "empty object": "{}",
    "null": "null",
}


@pytest.mark.parametrize("body", REFUSED_BODIES.values(), ids=REFUSED_BODIES.keys())
def test_invalid_bodies_are_refused_and_write_nothing(server: Server, body: str | bytes) -> None:
    before = row_counts(server.db_path)
    assert_refused(post(server, body))
    assert row_counts(server.db_path) == before


def test_fifty_thousand_unknown_fields_get_a_short_answer(server: Server) -> None:
    before = row_counts(server.db_path)
    body = json.dumps({**{f"field{n}": n for n in range(50_000)}, **example_ticket()})
    response = post(server, body)
    assert_refused(response)
    assert len(response.content) < 10_000
    error = response.json()["error"]
    assert len(error["details"]) == 20
    assert error["message"].endswith("and 49980 more problems")
    assert row_counts(server.db_path) == before


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "json",
        "text/json; x=application/json",
        "application/xml",
    ],
)
def test_a_body_not_declared_as_json_is_415(server: Server, content_type: str | None) -> None:
    before = row_counts(server.db_path)
    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.post(
        f"{server.url}/api/v1/tickets",
        data=json.dumps(example_ticket()).encode(),
        headers=headers,
        timeout=TIMEOUT,
    )
    assert_refused(response, 415)
    ticket = post(server, json.dumps(example_ticket())).json()
    cancel = requests.delete(
        f"{server.url}/api/v1/tickets/{ticket['id']}",
        data=b'{"reason": "x"}',
        headers=headers,
        timeout=TIMEOUT,
    )
    assert_refused(cancel, 415)
    assert row_counts(server.db_path) == (before[0] + 1, before[1] + 1)


@pytest.mark.parametrize(
    "body",
    [
        '{"reason": "\\ud800"}',
        '{"reason": 1e30}',
        '{"reason": "' + "a" * 10_001 + '"}',
        '{"reason": "x", "state": "completed"}',
        "[" * 100_000,
        b'{"reason": "\xff"}',
    ],
)
def test_invalid_cancel_bodies_are_refused_and_cancel_nothing(
    server: Server, body: str | bytes
) -> None:
    ticket = post(server, json.dumps(example_ticket())).json()
    url = f"{server.url}/api/v1/tickets/{ticket['id']}"
    before = row_counts(server.db_path)
    assert_refused(requests.delete(url, data=body, headers=JSON, timeout=TIMEOUT))
    assert row_counts(server.db_path) == before
    assert requests.get(url, timeout=TIMEOUT).json() == ticket


# --- hostile query strings and paths -----------------------------------------------------

TEN_TO_THE_30 = "1" + "0" * 30
REFUSED_QUERIES = [
    *(f"state={quote(s)}" for s in ["pending' OR '1'='1", "pending;--", "PENDING"]),
    *(f"limit={quote(s)}" for s in ["1; DROP TABLE tickets", "1 OR 1=1", "1e3"]),
    *(f"offset={quote(s)}" for s in ["0x10", "+1", " 1", "\uff11"]),
    f"limit={TEN_TO_THE_30}",
    f"offset={TEN_TO_THE_30}",
    "offset=" + "9" * 19,
    "limit=",
    "sort=queue&sort=newest",  # state, tag and event_type may repeat; others may not
    "state=pending&state=bogus",
    "offset=0&offset=0",
    "limit=5&limit=5&limit=5",
    "state=%FF",
    "state=pending%00",
    "%FF=1",
    "state[]=pending",
    "STATE=pending",
    "tickets=*",
]


@pytest.mark.parametrize("query", REFUSED_QUERIES)
def test_hostile_list_queries_are_400(server: Server, query: str) -> None:
    assert_refused(requests.get(f"{server.url}/api/v1/tickets?{query}", timeout=TIMEOUT))


@pytest.mark.parametrize(
    "query",
    [
        "event_type=" + quote("ticket_created' OR 1=1 --"),
        "ticket_id=a&ticket_id=b",
        "since=2024-01-01T00:00:00Z&since=2024-01-02T00:00:00Z",  # event_type may repeat
        "ticket_id=" + "a" * 10_000,  # longer than any ticket id could be
        f"limit={TEN_TO_THE_30}",
        f"offset={TEN_TO_THE_30}",
        "%00=1",
    ],
)
def test_hostile_audit_queries_are_400(server: Server, query: str) -> None:
    assert_refused(requests.get(f"{server.url}/api/v1/audit?{query}", timeout=TIMEOUT))


@pytest.mark.parametrize("ticket_id", [*SQL, "%FF%FE", "%00", "\u0000", "😀", "a" * 64])
def test_a_hostile_audit_ticket_id_is_only_a_filter(server: Server, ticket_id: str) -> None:
    post(server, json.dumps(example_ticket()))
    response = requests.get(
        f"{server.url}/api/v1/audit", params={"ticket_id": ticket_id}, timeout=TIMEOUT
    )
    assert response.status_code == 200
    assert response.json()["total"] == 0


def test_the_largest_offset_is_an_empty_page(server: Server) -> None:
    response = requests.get(
        f"{server.url}/api/v1/tickets?offset={'9' * 18}&limit=1000", timeout=TIMEOUT
    )
    assert response.status_code == 200
    assert response.json()["tickets"] == []


@pytest.mark.parametrize(
    "ticket_id",
    [
        "' OR '1'='1",
        "%27%20OR%20%271%27%3D%271",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "%00",
        "%FF",
        "*",
        "%",
        "_" * 36,
        "00000000-0000-4000-8000-00000000000%25",
        "a" * 5000,
    ],
)
def test_hostile_ticket_ids_are_404_and_change_nothing(server: Server, ticket_id: str) -> None:
    post(server, json.dumps(example_ticket()))
    before = row_counts(server.db_path)
    url = f"{server.url}/api/v1/tickets/{ticket_id}"
    for method in ("GET", "DELETE"):
        assert_refused(requests.request(method, url, timeout=TIMEOUT), 404)
    assert row_counts(server.db_path) == before
    assert (
        "cancelled"
        not in requests.get(
            f"{server.url}/api/v1/tickets?state=cancelled&limit=1", timeout=TIMEOUT
        ).text.split('"tickets":[', 1)[0]
    )


# --- malformed HTTP -----------------------------------------------------------------------


def exchange(server: Server, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /api/v1/tickets HTTP/9.9\r\n\r\n",
        b"GET /api/v1/tickets HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
        b"GET /api/v1/tickets HTTP/1.1\r\n" + b"X: a\r\n" * 200 + b"\r\n",
        b"GET /api/v1/tickets?state=\xff HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET /api/v1/tickets/\xff\xfe HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"POST /api/v1/tickets HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /api/v1/tickets HTTP/1.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\n{}\r\n0\r\n\r\n",
    ],
    ids=[
        "request line",
        "HTTP version",
        "long header",
        "many headers",
        "query bytes",
        "path bytes",
        "negative length",
        "chunked",
    ],
)
def test_malformed_http_gets_a_json_4xx(server: Server, request_bytes: bytes) -> None:
    before = row_counts(server.db_path)
    reply = exchange(server, request_bytes)
    head, _, body = reply.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/"):  # http.server answers a one-word request line HTTP/0.9-style
        body = reply
    else:
        status = int(head.split()[1])
        assert 400 <= status < 500, reply[:300]
    assert set(json.loads(body)) == {"error"}
    assert row_counts(server.db_path) == before


def test_a_stalled_client_does_not_hold_up_others(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as stalled:
        stalled.sendall(
            b"POST /api/v1/tickets HTTP/1.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"priority": '
        )
        results: list[int] = []

        def others() -> None:
            for _ in range(5):
                results.append(post(server, json.dumps(example_ticket())).status_code)

        thread = threading.Thread(target=others)
        thread.start()
        thread.join(timeout=TIMEOUT)
        assert results == [201] * 5


def test_a_body_cut_short_is_refused_even_if_its_start_is_valid_json(server: Server) -> None:
    before = row_counts(server.db_path)
    body = json.dumps(example_ticket()).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(
            b"POST /api/v1/tickets HTTP/1.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body) + 10}\r\n\r\n".encode()
            + body
        )
        sock.shutdown(socket.SHUT_WR)  # the body ends 10 bytes early
        reply = sock.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.1 400"), reply[:300]
    assert b"ended after" in reply
    assert row_counts(server.db_path) == before


@pytest.mark.parametrize("length", ["\u00b2", "1_0", "0x10", "1 0"])
def test_a_strange_content_length_is_400(server: Server, length: str) -> None:
    reply = exchange(
        server,
        b"POST /api/v1/tickets HTTP/1.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {length}\r\n\r\n{{}}".encode("latin-1"),  # as http.server reads it
    )
    assert reply.startswith(b"HTTP/1.1 400"), reply[:300]
