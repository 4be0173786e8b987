"""The API's OpenAPI 3.1 document, generated from the routes' own pydantic models.

Each route in `app.py` declares an `Operation` (its models, errors and headers);
`build_document` turns the list into the document served at `/api/v1/openapi.json`.
Nothing here knows about Chalice: the operations are plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.errors import (
    BodyTooLarge,
    ErrorResponse,
    InternalError,
    UnsupportedMediaType,
    status_of,
)
from chalicelib.api.parsing import IF_MATCH_PATTERN
from chalicelib.errors import (
    InvalidInput,
    StorageCorrupt,
    StorageUnavailable,
    TorrentinoError,
    Unauthenticated,
)

REF_TEMPLATE = "#/components/schemas/{model}"

ErrorClass = type[TorrentinoError]
# Every route may answer these; a route with a body, these too.
COMMON_ERRORS: tuple[ErrorClass, ...] = (
    Unauthenticated,
    StorageCorrupt,
    InternalError,
    StorageUnavailable,
)
BODY_ERRORS: tuple[ErrorClass, ...] = (InvalidInput, BodyTooLarge, UnsupportedMediaType)
# The headers an error's answer carries, as `api.errors.error_headers` sets them.
ERROR_RESPONSE_HEADERS: dict[ErrorClass, str] = {
    StorageUnavailable: "Retry-After",
    Unauthenticated: "WWW-Authenticate",
}

HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": "The ticket's version; send it back in If-Match.",
        "schema": {"type": "string"},
    },
    "Location": {"description": "The URL of the new ticket.", "schema": {"type": "string"}},
    "Link": {
        "description": 'The next page, as `<url>; rel="next"` (absent on the last page).',
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response to an earlier request.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {"description": "How to authenticate.", "schema": {"type": "string"}},
}

REQUEST_HEADERS: dict[str, dict[str, Any]] = {
    "Idempotency-Key": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": (
            "Makes a create safe to retry: a retry with the same key and body returns the "
            "original response and creates nothing (keys are kept for 48 hours, per caller)."
        ),
        "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
        "example": "5f0c7a8e-6e0b-4b8c-9a8e-2f1d1c7e9b10",
    },
    "If-Match": {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": (
            "Only change the ticket if its ETag is one of these (or `*`); 412 otherwise."
        ),
        "schema": {"type": "string", "pattern": IF_MATCH_PATTERN},
        "example": '"2024-12-25T10:00:00.000000Z"',
    },
}


@dataclass(frozen=True)
class Operation:
    """One route as the API document describes it."""

    method: str
    path: str
    operation_id: str
    summary: str
    response: type[BaseModel] | None = None
    status: int = 200
    body: type[BaseModel] | None = None
    body_required: bool = True
    # The media types the body may be sent as (the OpenAPI document lists each).
    body_media_types: tuple[str, ...] = ("application/json",)
    query: type[BaseModel] | None = None
    errors: tuple[ErrorClass, ...] = ()
    request_headers: tuple[str, ...] = ()
    response_headers: tuple[str, ...] = ()
    tag: str = "tickets"
    description: str = ""
    raw_response_schema: dict[str, Any] | None = field(default=None, compare=False)
    # A request header's description for this route, where it differs from `REQUEST_HEADERS`.
    header_descriptions: tuple[tuple[str, str], ...] = ()


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: absent stands for None, so drop the null branch."""
    options = schema.get("anyOf")
    if options is None:
        return schema
    kept = [option for option in options if option.get("type") != "null"]
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**rest, **kept[0]} if len(kept) == 1 else {**rest, "anyOf": kept}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    # Enums and the like are referenced from components, where `build_document` puts them.
    schema = model.model_json_schema(mode="validation", ref_template=REF_TEMPLATE)
    parameters = []
    for name, prop in schema["properties"].items():
        clean = _without_null(prop)
        clean.pop("title", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": False,
            "schema": clean,
        }
        if clean.get("type") == "array":
            parameter.update(style="form", explode=True)
            parameter["description"] = f"May be repeated: `{name}=a&{name}=b`."
        parameters.append(parameter)
    return parameters


PATH_PARAMETERS = {
    "ticket_id": "A ticket id (UUID).",
    "target_id": "A notification target's id (`nt_` and 12 hex digits).",
    "destination_id": "A destination's id (UUID), as `GET /api/v1/destinations` lists it.",
    "key_id": "An API key's id: the 12 hex digits after `trn_` in the key.",
}


def _path_parameters(path: str) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": PATH_PARAMETERS[name],
            "schema": {"type": "string"},
        }
        for name in names
    ]


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def _error_response(errors: list[ErrorClass]) -> dict[str, Any]:
    """The response for one status: each error that answers with it, described by its class."""
    response: dict[str, Any] = {
        "description": " ".join(dict.fromkeys(str(error.__doc__) for error in errors)),
        "content": _json_content(_ref(ErrorResponse)),
    }
    headers = [ERROR_RESPONSE_HEADERS[e] for e in errors if e in ERROR_RESPONSE_HEADERS]
    if headers:
        response["headers"] = {name: HEADERS[name] for name in headers}
    return response


def _operation(op: Operation) -> dict[str, Any]:
    document: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        document["description"] = op.description
    parameters = _path_parameters(op.path)
    if op.query is not None:
        parameters += _query_parameters(op.query)
    described = dict(op.header_descriptions)
    parameters += [
        {**REQUEST_HEADERS[name], "description": described[name]}
        if name in described
        else REQUEST_HEADERS[name]
        for name in op.request_headers
    ]
    if parameters:
        document["parameters"] = parameters
    if op.body is not None:
        content: dict[str, Any] = {
            media_type: {"schema": _ref(op.body)} for media_type in op.body_media_types
        }
        extra = op.body.model_config.get("json_schema_extra")
        # A model's own examples as written (a schema function's, from the schema it makes).
        examples = (
            extra.get("examples")
            if isinstance(extra, dict)
            else op.body.model_json_schema(mode="validation").get("examples")
        )
        if isinstance(examples, list) and examples:
            for media_type in content.values():
                media_type["example"] = examples[0]
        document["requestBody"] = {"required": op.body_required, "content": content}
    success: dict[str, Any] = {"description": op.summary}
    if op.response is not None:
        success["content"] = _json_content(_ref(op.response))
    elif op.raw_response_schema is not None:
        success["content"] = _json_content(op.raw_response_schema)
    if op.response_headers:
        success["headers"] = {name: HEADERS[name] for name in op.response_headers}
    responses: dict[str, Any] = {str(op.status): success}
    errors = [*op.errors, *COMMON_ERRORS, *(BODY_ERRORS if op.body is not None else ())]
    by_status: dict[int, list[ErrorClass]] = {}
    for error in errors:
        by_status.setdefault(status_of(error), []).append(error)
    for status in sorted(by_status):
        responses[str(status)] = _error_response(by_status[status])
    document["responses"] = responses
    return document


def build_document(operations: list[Operation], *, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for `operations`."""
    models: set[type[BaseModel]] = {ErrorResponse}
    for op in operations:
        models.update(m for m in (op.response, op.body) if m is not None)
    pairs = [
        (model, "serialization" if model is not ErrorResponse else "validation")
        for model in sorted(models, key=lambda m: m.__name__)
    ]
    # Bodies are validated, so their input schema is the contract; responses are dumped.
    bodies = {op.body for op in operations if op.body is not None}
    pairs = [(model, "validation" if model in bodies else mode) for model, mode in pairs]
    _, definitions = models_json_schema(pairs, ref_template=REF_TEMPLATE)  # type: ignore[arg-type]
    schemas = dict(definitions.get("$defs", {}))
    for op in operations:
        if op.query is not None:
            query_schema = op.query.model_json_schema(mode="validation", ref_template=REF_TEMPLATE)
            schemas.update(query_schema.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "torrentino",
            "version": version,
            "description": (
                "Self-hosted media acquisition: file tickets, follow them, read the audit log. "
                "Every error has the `ErrorResponse` shape. Until the first API key is created "
                "only this machine is served, and every caller from it is `anonymous`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{}, {"bearerAuth": []}, {"apiKeyAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            },
        },
    }
