"""torrentino's HTTP API: one thin route per endpoint over `chalicelib`, and the Lambda
entry points. The plumbing the routes share is `chalicelib.api.routing`."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Rate, Response

from chalicelib import settings
from chalicelib.api import webpage
from chalicelib.api.errors import ErrorResponse
from chalicelib.api.key_commands import run_key_command
from chalicelib.api.parsing import NoBody, parse_idempotency_key, parse_query
from chalicelib.api.routing import (
    JSON_HEADERS,
    Caller,
    Headers,
    api,
    api_route,
    body_as,
    error_response,
    header,
    if_match,
    json_response,
    link,
    openapi_json,
    optional_body_as,
    page_response,
    query_params,
    ticket_response,
)
from chalicelib.audit.log import AuditFilter, AuditPage
from chalicelib.backups import backup
from chalicelib.backups.files import BackupList, list_backups
from chalicelib.backups.kinds import BackupKind
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
from chalicelib.keys.identity import WhoAmI, who_am_i
from chalicelib.service.startup import Health, VersionInfo, ensure_started, version_info
from chalicelib.tickets.events import TicketHistory
from chalicelib.tickets.history import read_history
from chalicelib.tickets.listing import TicketFilter, TicketPage
from chalicelib.tickets.model import (
    CancelTicketRequest,
    CreateTicketRequest,
    FailTicketRequest,
    Ticket,
)

app = Chalice(app_name="torrentino")


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
    key = parse_idempotency_key(header("idempotency-key"))
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
    history = read_history(
        caller.tickets.conn, ticket_id, visible_to=caller.identity.owner_filter()
    )
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


# The web page for people (chalicelib/ui/): not part of the JSON API, so not in its document.
@app.route("/", methods=["GET"])
def web_page() -> Response:
    """The page itself (at the stage's folder, `…/api/`, for its relative URLs)."""
    location = webpage.folder_redirect(api.current_request.context.get("path"))
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
        served = webpage.serve(name, header("if-none-match"))
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


# Last: a Blueprint registers the routes declared on it so far.
app.register_blueprint(api)
