"""A ticket's states and the state machine: each state declared once, here.

A state is a class: its name (`kind`), its fields, and its `move` (`tickets.moves.Move`):
the route that moves a ticket into it, who may, the body it takes and its words on the
web page. `ALLOWED_TRANSITIONS` says which state may follow which. Everything else follows
from these: the routes (`app.py`), the store's `move`, the OpenAPI document, filtering and
counts, the audit events, history and the consistency check's replay, and the web page,
which reads them from `GET /api/v1/states`. Adding a state is an edit of this module alone.

A state travels in two shapes, each produced in exactly one place:

* on the wire (the API), the seed's externally tagged form: a state without fields is its
  name (``"pending"``), one with fields is ``{"cancelled": {"cancelled_by": ..., ...}}``;
* in the database, an internally tagged object: ``{"type": "cancelled", ...}``, so that
  ``json_extract(state, '$.type')`` can be indexed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from chalicelib.audit.events import AuditEventType
from chalicelib.errors import InvalidTransition
from chalicelib.tickets.moves import Input, Move
from chalicelib.tickets.text import MAX_REASON_CHARS, Unicode
from chalicelib.timestamps import Timestamp

# Every state by name, in the order the classes are defined (filled in by the classes).
STATE_CLASSES: dict[str, type[TicketState]] = {}


class TicketState(BaseModel):
    """Where a ticket stands. Each subclass is one state, named by `kind`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[str]
    # A state without fields travels as its bare name (`"pending"`).
    bare: ClassVar[bool] = False
    # How a caller moves a ticket into this state; None: no route does (a new ticket's).
    move: ClassVar[Move | None] = None
    # The event that records a move into it: `ticket_state_changed`, carrying the whole
    # state; or one of its own (the seed's `ticket_cancelled`), carrying its fields flat.
    event: ClassVar[AuditEventType] = AuditEventType.TICKET_STATE_CHANGED
    # Whether a ticket in this state may still be edited (its request changed), and whether
    # one that ended in it may be filed again (it ended without what it asked for).
    editable: ClassVar[bool] = False
    file_again: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            cls.bare = not cls.model_fields
            STATE_CLASSES[cls.kind] = cls

    @model_serializer(mode="wrap")
    def _to_wire(self, handler: SerializerFunctionWrapHandler) -> Any:
        return self.kind if self.bare else {self.kind: handler(self)}

    @classmethod
    def entered(cls, *, actor: str, at: datetime, body: Mapping[str, Any]) -> Self:
        """The state as a move makes it: a field named `*_by` is `actor`, `*_at` is `at`,
        any other the `body`'s field of that name (or its default). Raises `ValueError`."""
        values = {
            name: actor if name.endswith("_by") else at if name.endswith("_at") else body[name]
            for name in cls.model_fields
            if name.endswith(("_by", "_at")) or name in body
        }
        return cls.model_validate(values)

    def is_terminal(self) -> bool:
        """Whether no further transition is possible."""
        return not ALLOWED_TRANSITIONS[self.kind]

    def can_cancel(self) -> bool:
        """Whether the ticket may still be cancelled."""
        return Cancelled.kind in ALLOWED_TRANSITIONS[self.kind]

    def fields(self) -> dict[str, Any]:
        """The state's own fields in their JSON form (empty for a state without fields)."""
        wire = self.model_dump(mode="json")
        return dict(wire[self.kind]) if isinstance(wire, dict) else {}

    def entered_at(self) -> datetime | None:
        """When the ticket entered this state, where the state records it (its `*_at`)."""
        times = [getattr(self, name) for name in type(self).model_fields if name.endswith("_at")]
        return times[0] if times else None


class CancelTicketRequest(BaseModel):
    """The optional body of `DELETE /api/v1/tickets/{id}`."""

    model_config = ConfigDict(strict=True, extra="forbid")

    reason: Annotated[str, Field(max_length=MAX_REASON_CHARS), Unicode] | None = None


class FailTicketRequest(BaseModel):
    """The body of `POST /api/v1/tickets/{id}/fail`."""

    model_config = ConfigDict(
        strict=True, extra="forbid", json_schema_extra={"examples": [{"error": "no seeders"}]}
    )

    error: Annotated[str, Field(min_length=1, max_length=MAX_REASON_CHARS), Unicode]


# --- The states -------------------------------------------------------------------------


class Pending(TicketState):
    """Created, waiting to be processed."""

    kind: ClassVar[str] = "pending"
    editable: ClassVar[bool] = True


class Cancelled(TicketState):
    """Cancelled by a user or admin."""

    kind: ClassVar[str] = "cancelled"
    event: ClassVar[AuditEventType] = AuditEventType.TICKET_CANCELLED
    file_again: ClassVar[bool] = True
    move: ClassVar[Move | None] = Move(
        verb="cancel",
        who="owner",
        method="DELETE",
        path="/api/v1/tickets/{ticket_id}",
        summary="Cancel a ticket",
        description="The ticket stays, in the cancelled state. A user may cancel only its own.",
        body=CancelTicketRequest,
        button="Cancel ticket",
        style="danger",
        quick="Cancel",
        inputs=(
            Input(
                "reason",
                "Reason for cancelling (optional)",
                "Up to 10,000 characters.",
                multiline=True,
            ),
        ),
    )
    cancelled_by: str
    reason: str | None = None
    cancelled_at: Timestamp


class Completed(TicketState):
    """Completed successfully."""

    kind: ClassVar[str] = "completed"
    move: ClassVar[Move | None] = Move(
        verb="complete",
        who="admin",
        summary="Mark a pending ticket completed (admins; for testing until processors exist)",
        button="Mark completed",
    )
    completed_at: Timestamp


class Failed(TicketState):
    """Processing failed."""

    kind: ClassVar[str] = "failed"
    file_again: ClassVar[bool] = True
    move: ClassVar[Move | None] = Move(
        verb="fail",
        who="admin",
        summary="Mark a pending ticket failed (admins; for testing until processors exist)",
        body=FailTicketRequest,
        button="Mark failed",
        style="secondary",
        inputs=(
            Input(
                "error",
                "What went wrong",
                "Required to mark it failed; up to 10,000 characters.",
                missing="Say what went wrong: it is required.",
            ),
        ),
    )
    error: str
    failed_at: Timestamp


# The state machine, as data: for each state, the states a ticket may move to.
ALLOWED_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "pending": frozenset({"cancelled", "completed", "failed"}),
    "cancelled": frozenset(),
    "completed": frozenset(),
    "failed": frozenset(),
}

# --- What follows from them ---------------------------------------------------------------

STATE_NAMES: tuple[str, ...] = tuple(STATE_CLASSES)
# Each state a caller may move a ticket into, with its move, in the order declared.
MOVES: Mapping[str, Move] = {kind: cls.move for kind, cls in STATE_CLASSES.items() if cls.move}
if TYPE_CHECKING:
    StateName = str
else:  # validated and documented as one of the names
    StateName = Literal[STATE_NAMES]


def check_transition(ticket_id: str, current: TicketState, new: TicketState) -> None:
    """Raise `InvalidTransition` unless the table allows `current` -> `new`."""
    if new.kind not in ALLOWED_TRANSITIONS[current.kind]:
        raise InvalidTransition(ticket_id, current.kind, new.kind)


def state_from_parts(kind: str, fields: Mapping[str, Any]) -> TicketState:
    """Build a state from its name and fields (raises `ValueError` on nonsense)."""
    cls = STATE_CLASSES.get(kind)
    if cls is None:
        raise ValueError(f"unknown ticket state {kind!r}")
    return cls.model_validate(dict(fields))


def state_from_wire(value: Any) -> TicketState:
    """Read a state in its API form (``"pending"`` or ``{"cancelled": {...}}``)."""
    if isinstance(value, str):
        return state_from_parts(value, {})
    if isinstance(value, dict) and len(value) == 1:
        ((kind, fields),) = value.items()
        return state_from_parts(kind, fields)
    raise ValueError(f"not a ticket state: {value!r}")


def encode_state(state: TicketState) -> str:
    """The state as stored in the `tickets.state` column."""
    return json.dumps({"type": state.kind, **state.fields()}, ensure_ascii=False)


# Most rows a list reads are pending: a state without fields is always the same text, and
# states are frozen, so one instance serves every such row.
_WITHOUT_FIELDS = {encode_state(cls()): cls() for cls in STATE_CLASSES.values() if cls.bare}


def decode_state(text: str) -> TicketState:
    """Read a `tickets.state` column value."""
    shared = _WITHOUT_FIELDS.get(text)
    if shared is not None:
        return shared
    data = json.loads(text)
    kind = data.pop("type")
    return state_from_parts(kind, data)
