"""Notification targets and their deliveries: what the API takes and shows (never a secret
but once), and a target as the delivery reads it from its row."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.audit.events import AuditEventType
from chalicelib.timestamps import Timestamp


class TargetKind(StrEnum):
    """How a target is sent to: an Apprise URL, or a signed JSON webhook."""

    APPRISE = "apprise"
    WEBHOOK = "webhook"


class TargetScope(StrEnum):
    """Whose events a target gets: every event (an admin's), or its owner's tickets' only."""

    ALL = "all"
    OWN_TICKETS = "own_tickets"


class CreateTargetRequest(BaseModel):
    """A new notification target."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "ntfy://ntfy.example.com/torrentino",
                    "events": ["ticket_state_changed", "ticket_cancelled"],
                }
            ]
        },
    )

    url: Annotated[str, Field(min_length=1, max_length=2048)] = Field(
        description="An Apprise URL (ntfy://, discord://, tgram://, mailto://, json://, ...), "
        'or with `"kind": "webhook"` an https:// or http:// URL to POST signed events to. '
        "Never shown again: answers show it masked."
    )
    kind: TargetKind = Field(
        default=TargetKind.APPRISE,
        description="`apprise` (a short message per event) or `webhook` (the event as JSON, "
        "signed as Standard Webhooks says).",
    )
    events: Annotated[list[AuditEventType], Field(max_length=32)] | None = Field(
        default=None,
        description="The audit event types to send; all when left out. A user's target gets "
        "only the events of that user's own tickets.",
    )


TargetState = Literal["active", "paused"]


class NotificationTarget(BaseModel):
    """A target as its owner (and an admin) sees it: its URL masked, its secret never."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: TargetKind
    service: str = Field(description="What the URL names: Discord, ntfy, E-Mail, Webhook, ...")
    url: str = Field(description="The URL masked: scheme, host and port; the rest hidden.")
    events: list[AuditEventType] = Field(description="The event types it gets; empty for all.")
    scope: TargetScope
    owner: str
    created_at: Timestamp
    state: TargetState = Field(description="`paused` after a 410 Gone or a day of failures.")
    paused_reason: str | None = None
    failures: int = Field(description="Failed attempts in a row (0 while all is well).")
    last_error: str | None = None
    next_attempt_at: Timestamp | None = None
    last_delivered_at: Timestamp | None = None


class CreatedTarget(NotificationTarget):
    """A new target; a webhook's signing secret is in `secret`, shown this once."""

    secret: str | None = Field(
        default=None,
        description="A webhook's signing secret (`whsec_...`): store it now, it is never shown "
        "again. Verify each request with it (the `standardwebhooks` library does).",
    )


class TargetList(BaseModel):
    """The caller's targets (every target, for an admin), oldest first."""

    model_config = ConfigDict(frozen=True)

    targets: list[NotificationTarget]


DeliveryStatus = Literal["delivered", "retrying", "given_up", "failed"]


class Delivery(BaseModel):
    """One event's delivery to a target (or one test), with every attempt counted."""

    model_config = ConfigDict(frozen=True)

    event_id: int | None = Field(description="The audit event delivered; null for a test.")
    message_id: str = Field(description="The webhook-id: the same on every retry.")
    status: DeliveryStatus = Field(
        description="`retrying` until it is delivered or, after about a day, `given_up`; "
        "`failed` for a test that did not get through."
    )
    attempts: int
    first_attempt_at: Timestamp
    last_attempt_at: Timestamp
    response_status: int | None = None
    last_error: str | None = None


class DeliveryList(BaseModel):
    """A target's most recent deliveries, newest first."""

    model_config = ConfigDict(frozen=True)

    target_id: str
    deliveries: list[Delivery]


class ResumeRequest(BaseModel):
    """Resume a paused target: from where it stopped, or from now on."""

    model_config = ConfigDict(extra="forbid", strict=True)

    skip_missed: bool = Field(
        default=False,
        description="Skip the events that came while it was paused (default: send them).",
    )


@dataclass(frozen=True)
class TargetRow:
    """A target as the delivery reads it, secrets included: never shown."""

    id: str
    owner: str
    scope: TargetScope
    kind: TargetKind
    url: str
    secret: str | None
    events: tuple[str, ...]
    cursor: int
    failures: int
    give_ups: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> TargetRow:
        """Read a `notification_targets` row."""
        return cls(
            id=row["id"],
            owner=row["owner"],
            scope=TargetScope(row["scope"]),
            kind=TargetKind(row["kind"]),
            url=row["url"],
            secret=row["secret"],
            events=tuple(json.loads(row["events"])),
            cursor=row["cursor"],
            failures=row["failures"],
            give_ups=row["give_ups"],
        )


def shown(row: sqlite3.Row) -> NotificationTarget:
    """A `notification_targets` row as the API shows it."""
    return NotificationTarget(
        id=row["id"],
        kind=row["kind"],
        service=row["service"],
        url=row["masked_url"],
        events=json.loads(row["events"]),
        scope=row["scope"],
        owner=row["owner"],
        created_at=row["created_at"],
        state="paused" if row["paused_at"] else "active",
        paused_reason=row["paused_reason"],
        failures=row["failures"],
        last_error=row["last_error"],
        next_attempt_at=row["next_attempt_at"],
        last_delivered_at=row["last_delivered_at"],
    )
