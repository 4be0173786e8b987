"""torrentino's HTTP API: one thin route per endpoint over `chalicelib`."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from chalice.app import Chalice, CloudWatchEvent, MultiDict, Rate, Request, Response
from pydantic import BaseModel

from chalicelib import __version__, backup, settings
from chalicelib.api import webpage
from chalicelib.api.errors import (
    ErrorResponse,
    InternalError,
    MethodNotAllowed,
    UnsupportedMediaType,
    error_headers,
    status_of,
)
from chalicelib.api.key_commands import run_key_command
from chalicelib.api.links import base_path
from chalicelib.api.openapi import Operation, build_document
from chalicelib.api.origin import refuse_other_sites
from chalicelib.api.parsing import (
    ModelT,
    NoBody,
    parse_body,
    parse_idempotency_key,
    parse_if_match,
    parse_optional_body,
    parse_query,
)
from chalicelib.audit.log import AuditFilter, AuditPage, SqliteAuditLog
from chalicelib.audit.ticket_events import TicketHistory
from chalicelib.backup_files import BackupList, list_backups
from chalicelib.backup_kinds import BackupKind
from chalicelib.errors import (
    BackupFailed,
    BackupInProgress,
    Forbidden,
    IdempotencyMismatch,
    InvalidInput,
    InvalidTransition,
    StaleTicket,
    StorageUnavailable,
    TicketNotFound,
    TorrentinoError,
)
from chalicelib.identity import ANONYMOUS, Identity, WhoAmI, resolve_identity, who_am_i
from chalicelib.service import Health, VersionInfo, ensure_started, version_info
from chalicelib.storage import open_storage
from chalicelib.tickets.listing import TicketFilter, TicketPage
from chalicelib.tickets.model import (
    CancelTicketRequest,
    CreateTicketRequest,
    FailTicketRequest,
    Ticket,
)
from chalicelib.tickets.store import SqliteTicketStore

app = Chalice(app_name="torrentino")

Headers = dict[str, str | list[str]]
JSON_HEADERS: Headers = {"Content-Type": "application/json"}


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


@dataclass(frozen=True)
class Caller:
    """Who is asking, and the storage their request works on (its one connection)."""

    identity: Identity
    tickets: SqliteTicketStore
    audit_log: SqliteAuditLog


View = Callable[..., Response]
OPERATIONS: list[Operation] = []


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
                # One connection per request, for the caller's identity and the work.
                with open_storage(db_file) as storage:
                    identity = resolve_identity(storage.connection, request().headers, source_ip())
                    if identity == ANONYMOUS:  # no key: another site's page could be it
                        refuse_other_sites(method, request().headers)
                    caller = Caller(identity, storage.tickets, storage.audit_log)
                    response: Response = view(caller, **kwargs)
                return response
            except TorrentinoError as error:
                return error_response(error)
            except Exception:
                app.log.exception("unhandled error in %s %s", method, path)
                return error_response(InternalError())

        app.route(path, methods=[method])(handle)
        OPERATIONS.append(
            Operation(method=method, path=path, operation_id=view.__name__, **operation)
        )
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


def source_ip() -> str | None:
    """The caller's address: API Gateway's, or the launcher's peer address locally."""
    address = (request().context.get("identity") or {}).get("sourceIp")
    return address if isinstance(address, str) else None


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


def if_match() -> frozenset[str] | None:
    """The versions the request's If-Match header accepts, or None for any."""
    return parse_if_match(request().headers.get("if-match"))


def link(path: str) -> str:
    """`path` as the client must ask for it: behind the prefix the request came through
    (API Gateway's stage, a custom domain's base path, or none; see `chalicelib.api.links`).
    """
    return base_path(str(request().context.get("path", "")), request().path) + path


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
    return json_response(page.model_copy(update={"next": url}), headers=headers)


@api_route(
    "POST",
    "/api/v1/tickets",
    summary="File a new ticket",
    body=CreateTicketRequest,
    response=Ticket,
    status=201,
    errors=(IdempotencyMismatch,),
    request_headers=("Idempotency-Key",),
    response_headers=("ETag", "Location", "Idempotent-Replayed"),
)
def create_ticket(caller: Caller) -> Response:
    """File a new ticket; an Idempotency-Key makes retries safe."""
    body = body_as(CreateTicketRequest)
    key = parse_idempotency_key(request().headers.get("idempotency-key"))
    if key is None:
        ticket, replayed = caller.tickets.create(body, created_by=caller.identity.name), False
    else:
        ticket, replayed = caller.tickets.create_idempotent(
            body, created_by=caller.identity.name, key=key
        )
    headers: Headers = {"Location": link(f"/api/v1/tickets/{ticket.id}")}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return ticket_response(ticket, 201, headers)


@api_route(
    "GET",
    "/api/v1/tickets",
    summary="List tickets",
    description="Queue order (priority high first, oldest first, id) unless sort=newest.",
    query=TicketFilter,
    response=TicketPage,
    errors=(InvalidInput, TicketNotFound),
    response_headers=("Link",),
)
def list_tickets(caller: Caller) -> Response:
    """List tickets, filtered and paged; any caller may list."""
    ticket_filter = parse_query(
        TicketFilter, query_params(), integers=("limit", "offset"), repeatable=("state", "tag")
    )
    return page_response(caller.tickets.page(ticket_filter), "/api/v1/tickets")


@api_route(
    "GET",
    "/api/v1/tickets/{ticket_id}",
    summary="Read one ticket",
    response=Ticket,
    errors=(TicketNotFound,),
    response_headers=("ETag",),
)
def get_ticket(caller: Caller, ticket_id: str) -> Response:
    """Read one ticket; any caller may read."""
    return ticket_response(caller.tickets.get(ticket_id))


# What the three routes that move a ticket to another state share: the ticket as it now
# is, the errors a move can meet, and the optimistic concurrency of If-Match and ETag.
TRANSITION: dict[str, Any] = {
    "response": Ticket,
    "errors": (Forbidden, TicketNotFound, InvalidTransition, StaleTicket),
    "request_headers": ("If-Match",),
    "response_headers": ("ETag",),
}


@api_route(
    "DELETE",
    "/api/v1/tickets/{ticket_id}",
    summary="Cancel a ticket",
    description="The ticket stays, in the cancelled state. A user may cancel only its own.",
    body=CancelTicketRequest,
    body_required=False,
    **TRANSITION,
)
def cancel_ticket(caller: Caller, ticket_id: str) -> Response:
    """Cancel a ticket (it stays, in the cancelled state); a user may cancel only its own."""
    body = optional_body_as(CancelTicketRequest)
    cancelled = caller.tickets.cancel(
        ticket_id,
        cancelled_by=caller.identity.name,
        reason=body.reason,
        owner=caller.identity.owner_filter(),
        expected_versions=if_match(),
    )
    return ticket_response(cancelled)


@api_route(
    "POST",
    "/api/v1/tickets/{ticket_id}/complete",
    summary="Mark a pending ticket completed (admins; for testing until processors exist)",
    body=NoBody,
    body_required=False,
    **TRANSITION,
)
def complete_ticket(caller: Caller, ticket_id: str) -> Response:
    """Mark a pending ticket completed."""
    caller.identity.require_admin("complete a ticket")
    optional_body_as(NoBody)
    completed = caller.tickets.complete(
        ticket_id, actor=caller.identity.name, expected_versions=if_match()
    )
    return ticket_response(completed)


@api_route(
    "POST",
    "/api/v1/tickets/{ticket_id}/fail",
    summary="Mark a pending ticket failed (admins; for testing until processors exist)",
    body=FailTicketRequest,
    **TRANSITION,
)
def fail_ticket(caller: Caller, ticket_id: str) -> Response:
    """Mark a pending ticket failed with an error."""
    caller.identity.require_admin("fail a ticket")
    body = body_as(FailTicketRequest)
    failed = caller.tickets.fail(
        ticket_id, error=body.error, actor=caller.identity.name, expected_versions=if_match()
    )
    return ticket_response(failed)


@api_route(
    "GET",
    "/api/v1/audit",
    summary="List audit events, oldest first (or newest first)",
    description="A user sees only the events about tickets it created.",
    query=AuditFilter,
    response=AuditPage,
    errors=(InvalidInput,),
    response_headers=("Link",),
    tag="audit",
)
def list_audit_events(caller: Caller) -> Response:
    """List audit events in the order asked; a user sees only events about its own tickets."""
    audit_filter = parse_query(
        AuditFilter,
        query_params(),
        integers=("limit", "offset", "after"),
        repeatable=("event_type",),
    )
    page = caller.audit_log.page(audit_filter, visible_to=caller.identity.owner_filter())
    return page_response(page, "/api/v1/audit")


@api_route(
    "GET",
    "/api/v1/tickets/{ticket_id}/history",
    summary="A ticket's history: its events, oldest first, and the state after each",
    description="Rebuilt from the audit log. A user may read only its own tickets' history.",
    response=TicketHistory,
    errors=(Forbidden, TicketNotFound),
    tag="audit",
)
def ticket_history(caller: Caller, ticket_id: str) -> Response:
    """A ticket's events with the state after each."""
    history = caller.audit_log.history(ticket_id, visible_to=caller.identity.owner_filter())
    return json_response(history)


@api_route(
    "GET",
    "/api/v1/me",
    summary="Who the caller is: name, role, and whether the service is open (no key yet)",
    response=WhoAmI,
    errors=(),
    tag="meta",
)
def me(caller: Caller) -> Response:
    """The caller's name and role, for clients that offer only what the role allows."""
    return json_response(who_am_i(caller.identity))


@api_route(
    "GET",
    "/api/v1/backups",
    summary="List the backups, newest first (admins)",
    response=BackupList,
    errors=(Forbidden, StorageUnavailable),
    tag="backups",
)
def list_backup_files(caller: Caller) -> Response:
    """The backups in the backup directory, from their manifests (cheap at any size)."""
    caller.identity.require_admin("list backups")
    db_file = settings.db_path()
    found = list_backups(settings.backup_dir(db_file), db_file.stem)
    return json_response(BackupList(backups=found))


@api_route(
    "POST",
    "/api/v1/backups",
    summary="Take a backup now (admins)",
    description="Synchronous: it answers once the backup is verified (about 7 s at 100k "
    "tickets, one to two minutes at 1M). Behind API Gateway a backup longer than 29 s "
    "answers 504 but still finishes; list the backups to see it.",
    body=NoBody,
    body_required=False,
    response=backup.CreatedBackup,
    status=201,
    errors=(Forbidden, BackupInProgress, BackupFailed),
    tag="backups",
)
def create_backup(caller: Caller) -> Response:
    """Snapshot, verify and keep a backup; retention runs after it."""
    caller.identity.require_admin("take a backup")
    optional_body_as(NoBody)
    created = backup.create_backup(
        settings.db_path(), actor=caller.identity.name, kind=BackupKind.MANUAL
    )
    return json_response(created, 201)


@app.schedule(Rate(1, unit=Rate.DAYS))
def scheduled_backup(event: CloudWatchEvent) -> dict[str, str | None]:
    """The daily backup of a Lambda deployment, into TORRENTINO_BACKUP_DIR on the shared
    file system (the local server runs its own scheduler thread instead)."""
    del event
    db_file = settings.db_path()
    ensure_started(db_file)
    created = backup.backup_if_due(db_file)
    return {"backup": created.name if created else None}


@api_route(
    "GET",
    "/api/v1/health",
    public=True,
    summary="Liveness: the server is up and answering (it does not touch the database)",
    response=Health,
    errors=(),
    tag="meta",
)
def health() -> Response:
    """Liveness for monitors and load balancers."""
    return json_response(Health())


@api_route(
    "GET",
    "/api/v1/version",
    public=True,
    summary="This torrentino's version and the database schema it works on (no key needed)",
    response=VersionInfo,
    errors=(),
    tag="meta",
)
def version() -> Response:
    """The version (as in CHANGELOG.md) and the schema version, for whoever upgrades it."""
    return json_response(version_info())


@api_route(
    "GET",
    "/api/v1/openapi.json",
    public=True,
    summary="This API's OpenAPI 3.1 document",
    raw_response_schema={"type": "object"},
    errors=(),
    tag="meta",
)
def openapi_document() -> Response:
    """The OpenAPI document, built from the routes' declarations (see `openapi_json`)."""
    return Response(body=openapi_json(link("/")), status_code=200, headers=JSON_HEADERS)


@functools.cache
def openapi_json(server: str = "/") -> str:
    """The OpenAPI document as JSON text, for a client that reaches the API at `server`
    (built once per prefix a client came through: one, or a handful behind API Gateway)."""
    document = build_document(OPERATIONS, version=__version__)
    document["servers"] = [{"url": server}]
    return json.dumps(document, ensure_ascii=False)


# The web page for people (chalicelib/ui/): not part of the JSON API, so not in its document.
@app.route("/", methods=["GET"])
def web_page() -> Response:
    """The page itself (at the stage's folder, `…/api/`, for its relative URLs)."""
    location = webpage.folder_redirect(request().context.get("path"))
    if location is not None:
        return Response(body="", status_code=301, headers={"Location": location})
    return page_file_response(webpage.PAGE)


@app.route("/ui/{name}", methods=["GET"])
def web_page_file(name: str) -> Response:
    """One of the page's scripts, styles or images."""
    return page_file_response(name)


def page_file_response(name: str) -> Response:
    """A file of the page with its security headers, or the API's JSON 404."""
    try:
        served = webpage.serve(name, request().headers.get("if-none-match"))
    except TorrentinoError as error:
        return error_response(error)
    return Response(body=served.body, status_code=served.status, headers=dict(served.headers))


@app.lambda_function(name="keys")
def keys(event: Any, context: Any) -> dict[str, Any]:
    """Create, list and revoke API keys on a deployment with no shell: invoked with a JSON
    command (see `chalicelib.api.key_commands`); a new key is in the answer once, never logged.

    Its container starts the service as the other functions' do (`service_started` once
    per cold start, the database's in-use lock while warm); a refusal to start is answered
    in the error shape of a refused command.
    """
    del context
    db_file = settings.db_path()
    try:
        ensure_started(db_file)
    except TorrentinoError as error:
        refused: dict[str, Any] = ErrorResponse.from_error(error).model_dump(mode="json")
        return refused
    return run_key_command(event, db_file)
