"""The request plumbing every route shares: registering a route with its OpenAPI entry,
opening the request's storage and identity, reading its input, and writing responses.

The routes themselves live in `app.py`; they are declared on the `api` Blueprint here
(Chalice's way to keep plumbing out of the app module), which `app.py` registers.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from chalice.app import Blueprint, MultiDict, Request, Response
from pydantic import BaseModel

from chalicelib import __version__, settings
from chalicelib.api.errors import (
    ErrorResponse,
    InternalError,
    MethodNotAllowed,
    UnsupportedMediaType,
    error_headers,
    status_of,
)
from chalicelib.api.forwarding import ExternalUrl, client_address, external_url
from chalicelib.api.links import base_path
from chalicelib.api.openapi import Operation, build_document
from chalicelib.api.origin import refuse_other_sites
from chalicelib.api.parsing import ModelT, parse_body, parse_if_match, parse_optional_body
from chalicelib.audit.log import AuditPage, SqliteAuditLog
from chalicelib.errors import Forbidden, InvalidInput, TorrentinoError
from chalicelib.keys.identity import (
    ANONYMOUS,
    Identity,
    is_this_machine,
    names_this_machine,
    resolve_identity,
)
from chalicelib.notifications.store import SqliteTargetStore
from chalicelib.service.startup import ensure_started
from chalicelib.service.unit_of_work import open_storage
from chalicelib.tickets.listing import TicketPage
from chalicelib.tickets.model import Ticket
from chalicelib.tickets.store import SqliteTicketStore

Headers = dict[str, str | list[str]]
# On every answer: a browser must take the declared type, never guess another (an error
# that repeats input as HTML, say).
NO_SNIFFING: dict[str, str] = {"X-Content-Type-Options": "nosniff"}
JSON_HEADERS: Headers = {"Content-Type": "application/json", **NO_SNIFFING}
# On every answer that depends on the caller's key: no cache, shared or private, keeps it.
NOT_STORED: dict[str, str] = {"Cache-Control": "no-store"}

api = Blueprint(__name__)
OPERATIONS: list[Operation] = []


@dataclass(frozen=True)
class Caller:
    """Who is asking, and the storage their request works on (its one connection)."""

    identity: Identity
    tickets: SqliteTicketStore
    audit_log: SqliteAuditLog
    targets: SqliteTargetStore

    @property
    def conn(self) -> sqlite3.Connection:
        """The request's one connection, for the stores that take it."""
        return self.tickets.conn


View = Callable[..., Response]


def api_route(
    method: str, path: str, *, public: bool = False, **operation: Any
) -> Callable[[View], View]:
    """Register a route and describe it for the OpenAPI document (`operation` holds the
    `Operation` fields). The view gets the `Caller`; its errors become the JSON shape.

    Authentication happens here, for every route but the `public` ones, rather than in
    a Chalice `@app.authorizer`: a built-in authorizer sees only the Authorization
    header (not X-Api-Key), its rejections are API Gateway's own bodies rather than our
    error shape, and API Gateway refuses a request without the header before an
    authorizer could let it through in open mode.
    """

    def register(view: View) -> View:
        @functools.wraps(view)
        def handle(**kwargs: Any) -> Response:
            try:
                if public:
                    public_response: Response = view(**kwargs)
                    return public_response
                db_file = settings.db_path()
                ensure_started(db_file)
                url = external()
                # One connection per request, for the caller's identity and the work (a
                # GET's only reads: `db.ReadingConnection`).
                with open_storage(db_file, reading=method == "GET") as storage:
                    identity = resolve_identity(
                        storage.connection, request().headers, source_ip(), host=url.host
                    )
                    if identity == ANONYMOUS:  # no key: another site's page could be it
                        refuse_other_sites(method, request().headers, url.host, url.scheme)
                    caller = Caller(identity, storage.tickets, storage.audit_log, storage.targets)
                    response: Response = view(caller, **kwargs)
            except TorrentinoError as error:
                response = error_response(error)
            except Exception:
                api.log.exception("unhandled error in %s %s", method, path)
                response = error_response(InternalError())
            response.headers = {**response.headers, **NOT_STORED}  # a copy: never a shared dict
            return response

        # Chalice answers 415 itself for a body in a media type the route does not list.
        media_types = list(operation.get("body_media_types", ("application/json",)))
        api.route(path, methods=[method], content_types=media_types)(handle)
        OPERATIONS.append(
            Operation(method=method, path=path, operation_id=view.__name__, **operation)
        )
        return view

    return register


@api.middleware("http")
def uniform_errors(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Give the errors Chalice answers by itself (405, 415, its own 500) the API's shape,
    and every answer `NO_SNIFFING`."""
    response = get_response(event)
    body = response.body
    if response.status_code < 400 or not (isinstance(body, dict) and "Code" in body):
        response.headers = {**response.headers, **NO_SNIFFING}
        return response
    error: TorrentinoError
    if response.status_code == 405:
        allowed = str(response.headers.get("Allow", ""))
        error = MethodNotAllowed(event.method, event.path, allowed)
    elif response.status_code == 415:
        error = UnsupportedMediaType(event.headers.get("content-type", ""), media_types(event))
    elif response.status_code < 500:
        error = InvalidInput(str(body.get("Message", "bad request")))
    else:
        error = InternalError()
    return error_response(error)


def media_types(event: Request) -> tuple[str, ...]:
    """The media types the route a request matched takes its body in."""
    path = event.context.get("resourcePath")
    for operation in OPERATIONS:
        if operation.path == path and operation.method == event.method:
            return operation.body_media_types
    return ("application/json",)


def error_response(error: TorrentinoError) -> Response:
    """The API's single error shape: `{"error": {"code", "message", "details"}}`."""
    return Response(
        body=ErrorResponse.from_error(error).model_dump_json(),
        status_code=status_of(error),
        headers={**JSON_HEADERS, **error_headers(error)},
    )


def json_response(model: BaseModel, status: int = 200, headers: Headers | None = None) -> Response:
    """A model as a JSON response."""
    return Response(
        body=model.model_dump_json(),
        status_code=status,
        headers={**JSON_HEADERS, **(headers or {})},
    )


def ticket_response(ticket: Ticket, status: int = 200, headers: Headers | None = None) -> Response:
    """A ticket as JSON, with its version as the ETag."""
    return json_response(ticket, status, {"ETag": f'"{ticket.version}"', **(headers or {})})


def ticket_json_response(found: tuple[str, str]) -> Response:
    """A ticket's JSON and version as `SqliteTicketStore.get_json` reads them: the answer
    `ticket_response` gives for the ticket, with no model built."""
    body, version = found
    return Response(body=body, status_code=200, headers={**JSON_HEADERS, "ETag": f'"{version}"'})


def request() -> Request:
    """The request being served."""
    current: Request = api.current_request
    return current


def peer_ip() -> str | None:
    """The address the request came from: API Gateway's caller, or the launcher's peer."""
    address = (request().context.get("identity") or {}).get("sourceIp")
    return address if isinstance(address, str) else None


def source_ip() -> str | None:
    """The caller's address: the peer's, or behind a trusted proxy the client it names
    (None when it names none: a remote caller; see `chalicelib.api.forwarding`)."""
    return client_address(peer_ip(), request().headers, settings.trusted_proxies())


def require_this_machine_for_the_first_key(caller: Caller) -> None:
    """In open mode, raise `Forbidden` unless the request comes from this machine by a
    name of it, as open mode itself requires without `TORRENTINO_OPEN_TO_NETWORK`: the
    first key ends open mode for every caller, so with the setting on, any machine on
    the network could otherwise make itself the only admin."""
    if caller.identity != ANONYMOUS:
        return
    if not (is_this_machine(source_ip()) and names_this_machine(external().host)):
        raise Forbidden(
            "while no API key exists, only this machine may create the first one, by the "
            "name localhost or a loopback address; on the server: "
            'make keys ARGS="create <name> --role admin"'
        )


def external() -> ExternalUrl:
    """The scheme, host and path prefix the client used (a trusted proxy's, or its own)."""
    return external_url(peer_ip(), request().headers, settings.trusted_proxies())


def raw_body() -> bytes:
    """The request body as bytes."""
    body = request().raw_body
    return body if isinstance(body, bytes) else body.encode("utf-8")


def body_as(model: type[ModelT]) -> ModelT:
    """The request's JSON body, required, validated as `model`."""
    return parse_body(model, raw_body(), request().headers.get("content-type"))


def optional_body_as(model: type[ModelT]) -> ModelT:
    """The request's JSON body validated as `model`, or its defaults when there is none."""
    return parse_optional_body(model, raw_body(), request().headers.get("content-type"))


def query_params() -> dict[str, list[str]]:
    """Every query parameter with all of its values."""
    params: MultiDict | None = request().query_params
    if params is None:
        return {}
    return {name: params.getlist(name) for name in params}


def header(name: str) -> str | None:
    """A request header's value, or None."""
    value: str | None = request().headers.get(name)
    return value


def if_match() -> frozenset[str] | None:
    """The versions the request's If-Match header accepts, or None for any."""
    return parse_if_match(header("if-match"))


def link(path: str) -> str:
    """`path` as the client must ask for it: behind the prefix the request came through
    (a trusted proxy's mount, API Gateway's stage, a custom domain's base path, or none;
    see `chalicelib.api.links`).
    """
    prefix = base_path(str(request().context.get("path", "")), request().path)
    return external().prefix + prefix + path


def next_page(path: str, after: str | int | None) -> str | None:
    """The URL of the page after this one: the same query, continued `after` its last item.

    A cursor rather than an offset, so following `next` costs the same at any depth.
    """
    if after is None:
        return None
    kept = {k: v for k, v in query_params().items() if k not in ("offset", "after")}
    return link(f"{path}?{urlencode({**kept, 'after': [str(after)]}, doseq=True)}")


def page_response(page: TicketPage | AuditPage, path: str) -> Response:
    """A page as JSON, with `next` and a `Link: rel="next"` header when there is more."""
    url = next_page(path, page.next_after)
    headers: Headers = {"Link": f'<{url}>; rel="next"'} if url else {}
    body = page.model_copy(update={"next": url}).json_body()
    return Response(body=body, status_code=200, headers={**JSON_HEADERS, **headers})


@functools.lru_cache(maxsize=16)
def openapi_json(server: str = "/") -> str:
    """The OpenAPI document as JSON text, for a client that reaches the API at `server`
    (built once per prefix a client came through: one, or a handful behind API Gateway
    or a proxy)."""
    document = build_document(OPERATIONS, version=__version__)
    document["servers"] = [{"url": server}]
    return json.dumps(document, ensure_ascii=False)
