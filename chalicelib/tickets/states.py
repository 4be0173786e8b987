"""A ticket's states and the state machine: which state may follow which.

Each state is a class here; it registers itself, so its name, the number of states and
the wire schema all follow from the classes. A state travels in two shapes, each produced
in exactly one place:

* on the wire (the API), the seed's externally tagged form: a state without fields is its
  name (``"pending"``), one with fields is ``{"cancelled": {"cancelled_by": ..., ...}}``;
* in the database, an internally tagged object: ``{"type": "cancelled", ...}``, so that
  ``json_extract(state, '$.type')`` can be indexed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
)

from chalicelib.errors import InvalidTransition
from chalicelib.timestamps import Timestamp

# Every state by name, in the order the classes are defined (filled in by the classes).
STATE_CLASSES: dict[str, type[TicketState]] = {}


class TicketState(BaseModel):
    """Where a ticket stands. Each subclass is one state, named by `kind`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[str]
    # A state without fields travels as its bare name (`"pending"`).
    bare: ClassVar[bool] = False
    # Whether a ticket in this state may still be edited (its request changed).
    editable: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            cls.bare = not cls.model_fields
            STATE_CLASSES[cls.kind] = cls

    @model_serializer(mode="wrap")
    def _to_wire(self, handler: SerializerFunctionWrapHandler) -> Any:
        return self.kind if self.bare else {self.kind: handler(self)}

    def is_terminal(self) -> bool:
        """Whether no further transition is possible."""
        return not ALLOWED_TRANSITIONS[self.kind]

    def can_cancel(self) -> bool:
        """Whether the ticket may still be cancelled."""
        return "cancelled" in ALLOWED_TRANSITIONS[self.kind]

    def fields(self) -> dict[str, Any]:
        """The state's own fields in their JSON form (empty for a state without fields)."""
        wire = self.model_dump(mode="json")
        return dict(wire[self.kind]) if isinstance(wire, dict) else {}

    def entered_at(self) -> datetime | None:
        """When the ticket entered this state, where the state records it."""
        return None


class Pending(TicketState):
    """Created, waiting to be processed."""

    kind: ClassVar[str] = "pending"
    editable: ClassVar[bool] = True


class Cancelled(TicketState):
    """Cancelled by a user or admin."""

    kind: ClassVar[str] = "cancelled"
    cancelled_by: str
    reason: str | None = None
    cancelled_at: Timestamp

    def entered_at(self) -> datetime:
        return self.cancelled_at


class Completed(TicketState):
    """Completed successfully."""

    kind: ClassVar[str] = "completed"
    completed_at: Timestamp

    def entered_at(self) -> datetime:
        return self.completed_at


class Failed(TicketState):
    """Processing failed."""

    kind: ClassVar[str] = "failed"
    error: str
    failed_at: Timestamp

    def entered_at(self) -> datetime:
        return self.failed_at


# The state machine, as data: for each state, the states a ticket may move to.
ALLOWED_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "pending": frozenset({"cancelled", "completed", "failed"}),
    "cancelled": frozenset(),
    "completed": frozenset(),
    "failed": frozenset(),
}

STATE_NAMES: tuple[str, ...] = tuple(STATE_CLASSES)
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


def _wire_schema() -> dict[str, Any]:
    options: list[dict[str, Any]] = []
    for cls in STATE_CLASSES.values():
        if cls.bare:
            continue
        fields = cls.model_json_schema(mode="validation")
        fields.pop("title", None)
        options.append(
            {
                "type": "object",
                "title": cls.__name__,
                "properties": {cls.kind: fields},
                "required": [cls.kind],
                "additionalProperties": False,
            }
        )
    # The strings come last: openapi-python-client's generated parser tries the options in
    # order and gives up at a `const` that does not match instead of trying the next.
    options += [
        {"type": "string", "const": cls.kind, "description": cls.__doc__}
        for cls in STATE_CLASSES.values()
        if cls.bare
    ]
    return {
        "oneOf": options,
        "description": 'The ticket\'s state: "pending", or one key naming the terminal state.',
        "title": "State",
    }


def _coerce_state(value: Any) -> Any:
    return value if isinstance(value, TicketState) else state_from_wire(value)


def _state_to_wire(state: TicketState, info: SerializationInfo) -> Any:
    # Serialise by the value's own class, not the field's declared base class; most rows
    # are pending, whose wire form needs no serialiser at all.
    return state.kind if state.bare else state.model_dump(mode=info.mode)


# A state as a model field: read from and written in its wire form, documented as such.
WireState = Annotated[
    TicketState,
    BeforeValidator(_coerce_state),
    PlainSerializer(_state_to_wire),
    WithJsonSchema(_wire_schema()),
]
