"""docs/api.md covers the whole API: every route in its table and in a curl line, every
query parameter in a curl line, every header and every error code the HTTP API can answer.

The API is read from the routes themselves (`app.OPERATIONS`, what the OpenAPI document is
built from), so a new route, filter, header or error fails here until it is documented.
`test_commands.py` runs those curl lines against a real server.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import app  # noqa: F401  (importing it registers the routes)
from chalicelib.api.errors import STATUS
from chalicelib.api.openapi import Operation
from chalicelib.api.routing import OPERATIONS
from chalicelib.errors import BackupUnusable, DatabaseInUse, KeyNotFound
from tests.docs.markdown import code_blocks

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
# Raised by the command-line tools only (`make restore`, `make keys`), never over HTTP.
COMMAND_LINE_ONLY = {DatabaseInUse, BackupUnusable, KeyNotFound}
_METHOD = re.compile(r"(?:^|\s)-X\s*(\w+)")
_DATA = re.compile(r"(?:^|\s)(?:-d|--data|--data-binary)\s")
_URL = re.compile(r"https?://localhost:8080(/[^\s\"'?]*)(?:\?([^\s\"']*))?")


def curl_requests() -> list[tuple[str, str, str]]:
    """(method, path, query) of every curl command in the doc's shell blocks."""
    found = []
    for block in code_blocks(API_DOC.read_text()):
        if block.language not in ("bash", "sh", "shell"):
            continue
        for line in block.text.replace("\\\n", " ").splitlines():
            for piped in line.split("curl ")[1:]:
                command = piped.split(" | ")[0]  # not the programs it pipes into
                method = _METHOD.search(command)
                data = _DATA.search(command)
                default = "POST" if data else "GET"
                for url in _URL.finditer(command):
                    found.append((method[1] if method else default, url[1], url[2] or ""))
    return found


def path_pattern(operation: Operation) -> re.Pattern[str]:
    """The operation's path, with any value (a literal id or a shell variable) for `{...}`."""
    parts = re.split(r"\{\w+\}", operation.path)
    return re.compile("[^/]+".join(re.escape(part) for part in parts))


def query_names(operation: Operation) -> list[str]:
    return [] if operation.query is None else list(operation.query.model_fields)


def label(operation: Operation) -> str:
    return f"{operation.method} {operation.path}"


@pytest.mark.parametrize("operation", OPERATIONS, ids=label)
def test_every_route_is_in_the_table_and_in_a_curl_line(operation: Operation) -> None:
    # The table writes a ticket's id as {id}, as the curl lines and the seed do.
    path = re.sub(r"\{\w+\}", "{id}", operation.path)
    row = f"| `{operation.method} {path}` |"
    assert row in API_DOC.read_text()
    pattern = path_pattern(operation)
    assert any(
        method == operation.method and pattern.fullmatch(path)
        for method, path, _ in curl_requests()
    )


@pytest.mark.parametrize("operation", [op for op in OPERATIONS if op.query is not None], ids=label)
def test_every_query_parameter_is_in_a_curl_line(operation: Operation) -> None:
    pattern = path_pattern(operation)
    used = {
        name.split("=")[0]
        for method, path, query in curl_requests()
        if method == operation.method and pattern.fullmatch(path)
        for name in query.split("&")
    }
    assert set(query_names(operation)) - used == set()


def test_every_header_of_the_api_is_described() -> None:
    text = API_DOC.read_text()
    headers = {h for op in OPERATIONS for h in (*op.request_headers, *op.response_headers)}
    assert {header for header in headers if f"`{header}" not in text} == set()


def test_every_error_code_the_api_can_answer_is_in_the_table() -> None:
    text = API_DOC.read_text()
    codes = {error.code for error in STATUS if error not in COMMAND_LINE_ONLY}
    assert {code for code in codes if f"`{code}`" not in text} == set()
