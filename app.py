"""torrentino's HTTP API: one thin route per endpoint over `chalicelib`."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, MultiDict, Request, Response
from pydantic import BaseModel

from chalicelib import settings
from chalicelib.audit import AuditFilter
from chalicelib.errors import (
    BodyTooLarge,
    InternalError,
    InvalidInput,
    InvalidTransition,
    MethodNotAllowed,
    RouteNotFound,
    StaleTicket,
    StorageCorrupt,
    StorageUnavailable,
    TicketNotFound,
    TorrentinoError,
    UnsupportedMediaType,
)
from chalicelib.identity import resolve_identity
from chalicelib.parsing import parse_body, parse_optional_body, parse_query
from chalicelib.service import ensure_started
from chalicelib.store import SqliteAuditLog, SqliteTicketStore
from chalicelib.ticket import CancelTicketRequest, CreateTicketRequest, TicketFilter

app = Chalice(app_name="torrentino")

Headers = dict[str, str | list[str]]
JSON_HEADERS: Headers = {"Content-Type": "application/json"}

# The one place where domain errors become HTTP statuses (most specific class first).
ERROR_STATUS: tuple[tuple[type[TorrentinoError], int], ...] = (
    (TicketNotFound, 404),
    (RouteNotFound, 404),
    (MethodNotAllowed, 405),
    (InvalidTransition, 409),
    (StaleTicket, 409),
    (BodyTooLarge, 413),
    (UnsupportedMediaType, 415),
    (InvalidInput, 400),  # after its subclasses
    (StorageUnavailable, 503),
    (StorageCorrupt, 500),
    (InternalError, 500),
)


def error_response(error: TorrentinoError) -> Response:
    """The API's single error shape: `{"error": {"code", "message", "details"}}`."""
    status = next((code for cls, code in ERROR_STATUS if isinstance(error, cls)), 500)
    details = error.details if isinstance(error, InvalidInput) else []
    headers: Headers = dict(JSON_HEADERS)
    if isinstance(error, StorageUnavailable) and error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = error.allowed
    body = {"error": {"code": error.code, "message": error.message, "details": details}}
    return Response(body=json.dumps(body, ensure_ascii=False), status_code=status, headers=headers)


def json_response(model: BaseModel, status: int = 200) -> Response:
    """A model as a JSON response."""
    return Response(body=model.model_dump_json(), status_code=status, headers=JSON_HEADERS)


View = Callable[..., Response]


def api_route(path: str, method: str) -> Callable[[View], View]:
    """Register a route whose domain errors become the JSON error shape."""

    def register(view: View) -> View:
        @functools.wraps(view)
        def handle(**kwargs: Any) -> Response:
            try:
                ensure_started(settings.db_path())
                response: Response = view(**kwargs)
                return response
            except TorrentinoError as error:
                return error_response(error)
            except Exception:
                app.log.exception("unhandled error in %s %s", method, path)
                return error_response(InternalError())

        app.route(path, methods=[method])(handle)
        return view

    return register


@app.middleware("http")
def uniform_errors(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Give the errors Chalice answers by itself (405, 415, its own 500) the API's shape."""
    response = get_response(event)
    body = response.body
    if response.status_code < 400 or not (isinstance(body, dict) and "Code" in body):
        return response
    error: TorrentinoError
    if response.status_code == 405:
        allowed = str(response.headers.get("Allow", ""))
        error = MethodNotAllowed(event.method, event.path, allowed)
    elif response.status_code == 415:
        error = UnsupportedMediaType(event.headers.get("content-type", ""))
    elif response.status_code < 500:
        error = InvalidInput(str(body.get("Message", "bad request")))
    else:
        error = InternalError()
    return error_response(error)


def request() -> Request:
    """The request being served."""
    current = app.current_request
    assert current is not None  # Chalice sets it before calling any view
    return current


def raw_body() -> bytes:
    """The request body as bytes."""
    body = request().raw_body
    return body if isinstance(body, bytes) else body.encode("utf-8")


def query_params() -> dict[str, list[str]]:
    """Every query parameter with all of its values."""
    params: MultiDict | None = request().query_params
    if params is None:
        return {}
    return {name: params.getlist(name) for name in params}


def caller() -> str:
    """The name of whoever is making the request."""
    return resolve_identity(request().headers).name


def tickets() -> SqliteTicketStore:
    """The ticket store for this request's database."""
    return SqliteTicketStore(settings.db_path())


@api_route("/api/v1/tickets", "POST")
def create_ticket() -> Response:
    """File a new ticket."""
    body = parse_body(CreateTicketRequest, raw_body(), request().headers.get("content-type"))
    return json_response(tickets().create(body, created_by=caller()), status=201)


@api_route("/api/v1/tickets", "GET")
def list_tickets() -> Response:
    """List tickets in queue order, optionally by state."""
    flt = parse_query(TicketFilter, query_params(), integers=("limit", "offset"))
    return json_response(tickets().page(flt))


@api_route("/api/v1/tickets/{ticket_id}", "GET")
def get_ticket(ticket_id: str) -> Response:
    """Read one ticket."""
    return json_response(tickets().get(ticket_id))


@api_route("/api/v1/tickets/{ticket_id}", "DELETE")
def cancel_ticket(ticket_id: str) -> Response:
    """Cancel a ticket (it stays, in the cancelled state)."""
    body = parse_optional_body(
        CancelTicketRequest, raw_body(), request().headers.get("content-type")
    )
    return json_response(tickets().cancel(ticket_id, cancelled_by=caller(), reason=body.reason))


@api_route("/api/v1/audit", "GET")
def list_audit_events() -> Response:
    """List audit events, oldest first."""
    flt = parse_query(AuditFilter, query_params(), integers=("limit", "offset"))
    return json_response(SqliteAuditLog(settings.db_path()).page(flt))


@app.route("/api/v1/health", methods=["GET"])
def health() -> dict[str, str]:
    """Liveness: the server is up and answering. It does not touch the database."""
    return {"status": "ok"}
