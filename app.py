"""torrentino's HTTP API: one thin route per endpoint over `chalicelib`, and the Lambda
entry points. The plumbing the routes share is `chalicelib.api.routing`."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Rate, Response

from chalicelib import settings
from chalicelib.api import webpage
from chalicelib.api.errors import ErrorResponse
from chalicelib.api.key_commands import run_key_command
from chalicelib.api.machine import TicketStates, ticket_states
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
    require_this_machine_for_the_first_key,
    ticket_json_response,
    ticket_response,
)
from chalicelib.audit.log import AuditFilter, AuditPage
from chalicelib.backups import backup
from chalicelib.backups.files import BackupList, list_backups
from chalicelib.backups.kinds import BackupKind
from chalicelib.destinations import store as destinations
from chalicelib.destinations.store import CreateDestinationRequest, Destination, DestinationList
from chalicelib.errors import (
    BackupFailed,
    BackupInProgress,
    DestinationNotFound,
    DestinationTaken,
    Forbidden,
    IdempotencyMismatch,
    InvalidInput,
    InvalidTransition,
    KeyNotFound,
    StaleTicket,
    StorageUnavailable,
    TargetNotFound,
    TicketNotFound,
    TicketNotPending,
    TorrentinoError,
)
from chalicelib.keys import store as key_store
from chalicelib.keys.identity import WhoAmI, who_am_i
from chalicelib.keys.store import ApiKeyInfo, CreatedKey, CreateKeyRequest, KeyList
from chalicelib.notifications import model as targets
from chalicelib.notifications.addresses import AddressPolicy
from chalicelib.notifications.delivery import deliver_due
from chalicelib.service.startup import Health, VersionInfo, ensure_started, version_info
from chalicelib.tickets.events import TicketHistory
from chalicelib.tickets.history import read_history
from chalicelib.tickets.listing import TicketFilter, TicketPage
from chalicelib.tickets.model import CreateTicketRequest, Ticket
from chalicelib.tickets.moves import Move
from chalicelib.tickets.patch import UpdateTicketRequest
from chalicelib.tickets.states import MOVES

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
    return ticket_json_response(caller.tickets.get_json(ticket_id))


@api_route(
    "PATCH",
    "/api/v1/tickets/{ticket_id}",
    summary="Edit a pending ticket with a JSON Merge Patch (RFC 7396)",
    description="Changes priority, query_context.tags, query_context.description or dest_path, "
    "validated as a create is. Only a pending ticket, by its creator or an admin. A patch "
    "that changes nothing changes and records nothing.",
    body=UpdateTicketRequest,
    body_media_types=("application/merge-patch+json", "application/json"),
    response=Ticket,
    errors=(Forbidden, TicketNotFound, TicketNotPending, StaleTicket, IdempotencyMismatch),
    request_headers=("If-Match", "Idempotency-Key"),
    response_headers=("ETag", "Idempotent-Replayed"),
    header_descriptions=(
        (
            "Idempotency-Key",
            "Makes an edit safe to retry: a retry with the same key and patch returns the "
            "original response and changes nothing (keys are kept for 48 hours, per caller).",
        ),
    ),
)
def edit_ticket(caller: Caller, ticket_id: str) -> Response:
    """Edit a pending ticket; a user may edit only its own."""
    patch = body_as(UpdateTicketRequest)
    edited, replayed = caller.tickets.edit(
        ticket_id,
        patch,
        actor=caller.identity.name,
        owner=caller.identity.owner_filter(),
        expected_versions=if_match(),
        key=parse_idempotency_key(header("idempotency-key")),
    )
    return ticket_response(edited, headers={"Idempotent-Replayed": "true"} if replayed else None)


def move_route(kind: str, move: Move) -> None:
    """Register the route that moves a ticket into the state `kind`, as its `move` declares
    it (`chalicelib.tickets.states`): an admin-only move checks the role first, then the
    body; the store checks the owner, the If-Match version and the state machine. Every
    such route answers the ticket as it now is, with the optimistic concurrency of
    If-Match and ETag."""
    body_model = move.body or NoBody

    def view(caller: Caller, ticket_id: str) -> Response:
        if move.who == "admin":
            caller.identity.require_admin(f"{move.verb} a ticket")
        body = (body_as if move.body_required else optional_body_as)(body_model)
        moved = caller.tickets.move(
            ticket_id,
            kind,
            body.model_dump(),
            actor=caller.identity.name,
            owner=caller.identity.owner_filter(),
            expected_versions=if_match(),
        )
        return ticket_response(moved)

    view.__name__ = view.__qualname__ = f"{move.verb}_ticket"
    view.__doc__ = move.summary
    api_route(
        move.method,
        move.route,
        summary=move.summary,
        description=move.description,
        body=body_model,
        body_required=move.body_required,
        response=Ticket,
        errors=(Forbidden, TicketNotFound, InvalidTransition, StaleTicket),
        request_headers=("If-Match",),
        response_headers=("ETag",),
    )(view)


# One route per state a caller may move a ticket into, in the order the states are
# declared: DELETE /api/v1/tickets/{id} cancels, POST .../complete, POST .../fail.
for state_kind, state_move in MOVES.items():
    move_route(state_kind, state_move)


@api_route(
    "GET",
    "/api/v1/states",
    public=True,
    summary="The ticket states, the moves between them, and who may make each",
    description="For clients that offer only what is allowed; the same for every caller.",
    response=TicketStates,
    errors=(),
)
def states() -> Response:
    """The state machine as declared (`chalicelib.tickets.states`)."""
    return json_response(ticket_states())


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


@api_route(
    "GET",
    "/api/v1/destinations",
    summary="List the destinations tickets may go to (any caller)",
    description="While at least one exists, a ticket's dest_path must be inside one of them.",
    response=DestinationList,
    errors=(),
    tag="destinations",
)
def list_destinations(caller: Caller) -> Response:
    """Every destination by name, for the request form's choices."""
    return json_response(DestinationList(destinations=destinations.list_destinations(caller.conn)))


@api_route(
    "POST",
    "/api/v1/destinations",
    summary="Add a destination (admins)",
    body=CreateDestinationRequest,
    response=Destination,
    status=201,
    errors=(Forbidden, InvalidInput, DestinationTaken),
    tag="destinations",
)
def add_destination(caller: Caller) -> Response:
    """Add a named root that tickets may go to."""
    caller.identity.require_admin("add a destination")
    body = body_as(CreateDestinationRequest)
    added = destinations.add_destination(caller.conn, body, actor=caller.identity.name)
    return json_response(added, 201, {"Location": link(f"/api/v1/destinations/{added.id}")})


@api_route(
    "DELETE",
    "/api/v1/destinations/{destination_id}",
    summary="Remove a destination (admins); tickets filed into it keep their paths",
    response=Destination,
    errors=(Forbidden, DestinationNotFound),
    tag="destinations",
)
def remove_destination(caller: Caller, destination_id: str) -> Response:
    """Remove a destination."""
    caller.identity.require_admin("remove a destination")
    removed = destinations.remove_destination(
        caller.conn, destination_id, actor=caller.identity.name
    )
    return json_response(removed)


@api_route(
    "GET",
    "/api/v1/keys",
    summary="List the API keys, oldest first, without their secrets (admins)",
    response=KeyList,
    errors=(Forbidden,),
    tag="keys",
)
def list_api_keys(caller: Caller) -> Response:
    """Who has a key, with its role, and whether it is revoked."""
    caller.identity.require_admin("list API keys")
    return json_response(KeyList(keys=key_store.list_keys(settings.db_path())))


@api_route(
    "POST",
    "/api/v1/keys",
    summary="Create an API key (admins; in open mode, the first key ends open mode)",
    description="The answer holds the key this once; it is never shown or logged again.",
    body=CreateKeyRequest,
    response=CreatedKey,
    status=201,
    errors=(Forbidden, InvalidInput),
    tag="keys",
)
def create_api_key(caller: Caller) -> Response:
    """Create a key for a person, as `make keys ARGS="create ..."` does."""
    caller.identity.require_admin("create API keys")
    require_this_machine_for_the_first_key(caller)
    body = body_as(CreateKeyRequest)
    info, key = key_store.create_key(
        settings.db_path(), body.user, body.role, actor=caller.identity.name
    )
    return json_response(CreatedKey(**info.model_dump(), key=key), 201)


@api_route(
    "DELETE",
    "/api/v1/keys/{key_id}",
    summary="Revoke an API key at once (admins)",
    response=ApiKeyInfo,
    errors=(Forbidden, KeyNotFound),
    tag="keys",
)
def revoke_api_key(caller: Caller, key_id: str) -> Response:
    """Revoke a key; its holder is refused from the next request on."""
    caller.identity.require_admin("revoke API keys")
    revoked = key_store.revoke_key(settings.db_path(), key_id, actor=caller.identity.name)
    return json_response(revoked)


@api_route(
    "POST",
    "/api/v1/notification-targets",
    summary="Add a notification target: an Apprise URL, or a signed webhook",
    description="The answer shows the URL masked and, for a webhook, its signing secret: "
    "this once. An admin's target gets every event it names; a user's, only the events of "
    "that user's own tickets. Deliveries start with the next event (docs/notifications.md).",
    body=targets.CreateTargetRequest,
    response=targets.CreatedTarget,
    status=201,
    errors=(InvalidInput, Forbidden),
    tag="notifications",
)
def create_notification_target(caller: Caller) -> Response:
    """Save a target for the caller; its secret is in this answer only."""
    body = body_as(targets.CreateTargetRequest)
    created = caller.targets.create(
        body,
        owner=caller.identity.name,
        is_admin=caller.identity.is_admin,
        policy=AddressPolicy.from_settings(),
    )
    return json_response(created, 201)


@api_route(
    "GET",
    "/api/v1/notification-targets",
    summary="List the caller's notification targets (every one, for an admin)",
    response=targets.TargetList,
    errors=(),
    tag="notifications",
)
def list_notification_targets(caller: Caller) -> Response:
    """The caller's targets, masked, with their state."""
    return json_response(caller.targets.list(owner=caller.identity.owner_filter()))


# A target's own routes: its owner's, or any admin's; anyone else's is a 404.
TARGET: dict[str, Any] = {"errors": (TargetNotFound,), "tag": "notifications"}


@api_route(
    "DELETE",
    "/api/v1/notification-targets/{target_id}",
    summary="Remove a notification target and its delivery record",
    response=targets.NotificationTarget,
    **TARGET,
)
def delete_notification_target(caller: Caller, target_id: str) -> Response:
    """Remove one of the caller's targets."""
    owner = caller.identity.owner_filter()
    return json_response(caller.targets.delete(target_id, owner=owner, actor=caller.identity.name))


@api_route(
    "POST",
    "/api/v1/notification-targets/{target_id}/test",
    summary="Send a test notification now",
    description="Answers once it is sent (or has failed), with the delivery as recorded.",
    body=NoBody,
    body_required=False,
    response=targets.Delivery,
    **TARGET,
)
def test_notification_target(caller: Caller, target_id: str) -> Response:
    """Send a test to one of the caller's targets, paused or not."""
    optional_body_as(NoBody)
    owner = caller.identity.owner_filter()
    sent = caller.targets.send_test(target_id, owner=owner, policy=AddressPolicy.from_settings())
    return json_response(sent)


@api_route(
    "GET",
    "/api/v1/notification-targets/{target_id}/deliveries",
    summary="A notification target's recent deliveries, newest first",
    response=targets.DeliveryList,
    **TARGET,
)
def notification_deliveries(caller: Caller, target_id: str) -> Response:
    """The target's last deliveries: status, attempts and the last error of each."""
    owner = caller.identity.owner_filter()
    return json_response(caller.targets.deliveries(target_id, owner=owner))


@api_route(
    "POST",
    "/api/v1/notification-targets/{target_id}/resume",
    summary="Resume a paused notification target",
    description="It gets the events it missed while paused, unless `skip_missed` is true.",
    body=targets.ResumeRequest,
    body_required=False,
    response=targets.NotificationTarget,
    **TARGET,
)
def resume_notification_target(caller: Caller, target_id: str) -> Response:
    """Deliver to a paused target again."""
    body = optional_body_as(targets.ResumeRequest)
    resumed = caller.targets.resume(
        target_id,
        owner=caller.identity.owner_filter(),
        actor=caller.identity.name,
        skip_missed=body.skip_missed,
    )
    return json_response(resumed)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def scheduled_notifications(event: CloudWatchEvent) -> dict[str, int]:
    """Deliver notifications on a Lambda deployment, every minute (the local server runs a
    delivery thread instead). Several at once are safe: each target is leased to one run."""
    del event
    db_file = settings.db_path()
    ensure_started(db_file)
    report = deliver_due(db_file, worker=NOTIFY_WORKER, budget_seconds=NOTIFY_BUDGET_SECONDS)
    return report.summary()


# A Lambda run stops starting sends after this long, well inside its timeout and the minute.
NOTIFY_BUDGET_SECONDS = 40.0
NOTIFY_WORKER = "lambda"


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
