"""The OpenAPI document: valid, complete, and generated from the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate

from app import app
from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from chalicelib.tickets.model import CreateTicketRequest, Ticket
from tests.handler.conftest import Api

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def document(api: Api) -> dict[str, Any]:
    status, doc, headers = api.call("GET", "/api/v1/openapi.json")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    return dict(doc)


def test_the_document_is_valid_openapi_3_1(api: Api) -> None:
    doc = document(api)
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_route_is_documented_and_nothing_else(api: Api) -> None:
    doc = document(api)
    documented = {
        (path, method.upper())
        for path, item in doc["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    served = {(path, method) for path, entries in app.routes.items() for method in entries}
    # The web page's routes (/ and /ui/...) serve HTML, CSS and JS, not the JSON API.
    page_routes = {("/", "GET"), ("/ui/{name}", "GET")}
    assert served & page_routes == page_routes
    assert documented == served - page_routes


def test_schemas_come_from_the_pydantic_models(api: Api) -> None:
    schemas = document(api)["components"]["schemas"]
    ticket = Ticket.model_json_schema(
        mode="serialization", ref_template="#/components/schemas/{model}"
    )
    ticket.pop("$defs", None)
    assert schemas["Ticket"] == ticket
    create = CreateTicketRequest.model_json_schema(
        mode="validation", ref_template="#/components/schemas/{model}"
    )
    create.pop("$defs", None)
    assert schemas["CreateTicketRequest"] == create


def test_every_reference_resolves(api: Api) -> None:
    doc = document(api)
    text = json.dumps(doc)
    schemas = doc["components"]["schemas"]
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_errors_and_examples_are_documented(api: Api) -> None:
    doc = document(api)
    create = doc["paths"]["/api/v1/tickets"]["post"]
    assert create["requestBody"]["content"]["application/json"]["example"]["priority"] == 100
    for status in ("400", "413", "415", "422", "500", "503"):
        schema = create["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
    assert "examples" in doc["components"]["schemas"]["ErrorResponse"]
    assert set(create["responses"]["201"]["headers"]) == {
        "ETag",
        "Location",
        "Idempotent-Replayed",
    }
    listing = {p["name"] for p in doc["paths"]["/api/v1/tickets"]["get"]["parameters"]}
    assert listing == {
        "state",
        "created_by",
        "tag",
        "created_after",
        "created_before",
        "sort",
        "limit",
        "offset",
        "after",
    }
    audit = {p["name"] for p in doc["paths"]["/api/v1/audit"]["get"]["parameters"]}
    assert audit == {
        "event_type",
        "ticket_id",
        "since",
        "until",
        "sort",
        "limit",
        "offset",
        "after",
    }


def test_the_document_needs_no_key(api: Api, handler_db: Path) -> None:
    create_key(handler_db, "root", Role.ADMIN)
    assert api.call("GET", "/api/v1/tickets")[0] == 401
    assert api.call("GET", "/api/v1/openapi.json")[0] == 200
