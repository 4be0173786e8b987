"""The ticket model and its state machine.

A ticket's state travels in two shapes, each produced in exactly one place here:

* on the wire (the API), the seed's externally tagged form: ``"pending"`` or
  ``{"cancelled": {"cancelled_by": ..., "reason": ..., "cancelled_at": ...}}``;
* in the database, an internally tagged object: ``{"type": "cancelled", ...}``,
  so that ``json_extract(state, '$.type')`` can be indexed.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
)

from chalicelib.errors import InvalidTransition


def utc_now() -> datetime:
    """The current time in UTC, at the microsecond resolution we store."""
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with a four-digit year and a six-digit fraction: text order is time order."""
    # Not strftime: glibc's %Y writes the year 999 as "999", which sorts after "2026".
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_timestamp(text: str) -> datetime:
    """Read a timestamp written by `format_timestamp`."""
    return datetime.fromisoformat(text)


def next_timestamp(after: str, moment: datetime) -> str:
    """A timestamp at `moment`, but strictly later than `after` (for optimistic locking)."""
    candidate = format_timestamp(moment)
    if candidate > after:
        return candidate
    return format_timestamp(parse_timestamp(after) + timedelta(microseconds=1))


def _require_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("timestamp must carry a time zone")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        raise ValueError("timestamp is outside years 1 to 9999 in UTC") from None


Timestamp = Annotated[
    datetime,
    AfterValidator(_require_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2024-12-25T10:00:00.000000Z"]}
    ),
]

# Text bounds: generous for people, small enough that nobody can fill the disk
# or the response with one ticket.
MAX_DEST_PATH_BYTES = 4096
MAX_TAGS = 100
MAX_TAG_CHARS = 100
MAX_DESCRIPTION_CHARS = 10_000
MAX_REASON_CHARS = 10_000
MAX_PRIORITY = 65_535

# C0, DEL and C1: every character Unicode calls a control (category Cc). One range, for
# the validators and for the patterns the OpenAPI document shows.
_CONTROL_RANGE = r"\x00-\x1f\x7f-\x9f"
_CONTROL_CHARS = re.compile(f"[{_CONTROL_RANGE}]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def _valid_unicode(text: str) -> str:
    if _SURROGATES.search(text):
        raise ValueError("text must be valid Unicode (no lone surrogates)")
    return text


def _valid_dest_path(path: str) -> str:
    _valid_unicode(path)
    if not path:
        raise ValueError("dest_path must not be empty")
    if _CONTROL_CHARS.search(path):
        raise ValueError("dest_path must not contain NUL or other control characters")
    if not path.startswith("/"):
        raise ValueError("dest_path must be an absolute path (start with '/')")
    if ".." in path.split("/"):
        raise ValueError("dest_path must not contain a '..' segment")
    if len(path.encode("utf-8")) > MAX_DEST_PATH_BYTES:
        raise ValueError(f"dest_path must be at most {MAX_DEST_PATH_BYTES} bytes")
    return path


def _valid_tag(tag: str) -> str:
    _valid_unicode(tag)
    if _CONTROL_CHARS.search(tag):
        raise ValueError("a tag must not contain control characters")
    return tag


Text = Annotated[str, AfterValidator(_valid_unicode)]
# The patterns document the rules for clients (OpenAPI); the validators enforce them with
# messages that say what is wrong.
DestPath = Annotated[
    str,
    AfterValidator(_valid_dest_path),
    Field(
        description=(
            "An absolute path of at most 4,096 bytes (UTF-8) with no '..' segment and no "
            "control characters."
        ),
        json_schema_extra={
            "minLength": 1,
            "maxLength": MAX_DEST_PATH_BYTES,
            "pattern": f"^/[^{_CONTROL_RANGE}]*$",
        },
    ),
]
Tag = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_TAG_CHARS,
        json_schema_extra={"pattern": f"^[^{_CONTROL_RANGE}]+$"},
    ),
    AfterValidator(_valid_tag),
]


def _whole_number(value: Any) -> Any:
    # JSON Schema counts 100.0 as an integer, so a client built from the API document may
    # send one; a fraction is still refused.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Priority = Annotated[int, Field(ge=0, le=MAX_PRIORITY), BeforeValidator(_whole_number)]


class QueryContext(BaseModel):
    """What to look for: routing tags plus a free-form description."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    tags: Annotated[list[Tag], Field(max_length=MAX_TAGS)]
    description: Annotated[Text, Field(max_length=MAX_DESCRIPTION_CHARS)]


# --- states -----------------------------------------------------------------


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[str]

    def is_terminal(self) -> bool:
        """Whether no further transition is possible."""
        return not ALLOWED_TRANSITIONS[self.kind]

    def can_cancel(self) -> bool:
        """Whether the ticket may still be cancelled."""
        return "cancelled" in ALLOWED_TRANSITIONS[self.kind]

    def fields(self) -> dict[str, Any]:
        """The state's own fields in their JSON form (empty for pending)."""
        return {}

    def entered_at(self) -> datetime | None:
        """When the ticket entered this state, where the state records it."""
        return None


class _TaggedState(_State):
    @model_serializer(mode="wrap")
    def _to_wire(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {self.kind: handler(self)}

    def fields(self) -> dict[str, Any]:
        wire: dict[str, Any] = self.model_dump(mode="json")
        return dict(wire[self.kind])


class Pending(_State):
    """Created, waiting to be processed."""

    kind: ClassVar[str] = "pending"

    @model_serializer(mode="plain")
    def _to_wire(self) -> str:
        return "pending"


class Cancelled(_TaggedState):
    """Cancelled by a user or admin."""

    kind: ClassVar[str] = "cancelled"
    cancelled_by: str
    reason: str | None = None
    cancelled_at: Timestamp

    def entered_at(self) -> datetime:
        return self.cancelled_at


class Completed(_TaggedState):
    """Completed successfully."""

    kind: ClassVar[str] = "completed"
    completed_at: Timestamp

    def entered_at(self) -> datetime:
        return self.completed_at


class Failed(_TaggedState):
    """Processing failed."""

    kind: ClassVar[str] = "failed"
    error: str
    failed_at: Timestamp

    def entered_at(self) -> datetime:
        return self.failed_at


TicketState = Pending | Cancelled | Completed | Failed

STATE_CLASSES: dict[str, type[Pending] | type[Cancelled] | type[Completed] | type[Failed]] = {
    cls.kind: cls for cls in (Pending, Cancelled, Completed, Failed)
}
STATE_NAMES: tuple[str, ...] = tuple(STATE_CLASSES)

# The state machine, as data: for each state, the states a ticket may move to.
ALLOWED_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "pending": frozenset({"cancelled", "completed", "failed"}),
    "cancelled": frozenset(),
    "completed": frozenset(),
    "failed": frozenset(),
}


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


def encode_state(state: TicketState) -> str:
    """The state as stored in the `tickets.state` column."""
    return json.dumps({"type": state.kind, **state.fields()}, ensure_ascii=False)


# Most rows a list reads are pending, and every pending row stores this same text.
_PENDING = Pending()
_PENDING_TEXT = encode_state(_PENDING)


def decode_state(text: str) -> TicketState:
    """Read a `tickets.state` column value."""
    if text == _PENDING_TEXT:
        return _PENDING  # states are frozen: one instance serves every pending row
    data = json.loads(text)
    kind = data.pop("type")
    return state_from_parts(kind, data)


def state_from_wire(value: Any) -> TicketState:
    """Read a state in its API form (``"pending"`` or ``{"cancelled": {...}}``)."""
    if isinstance(value, str):
        return state_from_parts(value, {})
    if isinstance(value, dict) and len(value) == 1:
        ((kind, fields),) = value.items()
        return state_from_parts(kind, fields)
    raise ValueError(f"not a ticket state: {value!r}")


# --- tickets ------------------------------------------------------------------


def new_ticket_id() -> str:
    """A fresh random ticket id."""
    return str(uuid.uuid4())


def canonical_ticket_id(text: str) -> str | None:
    """The canonical (lower-case, hyphenated) form of a UUID, or None if it is not one."""
    if len(text) != 36:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _valid_ticket_id(text: str) -> str:
    canonical = canonical_ticket_id(text)
    if canonical is None or not _UUID.fullmatch(text):
        raise ValueError("must be a ticket id, a UUID such as 1b0c3f9e-7f4e-4c1a-9d55-2a8f3c1e6b70")
    return canonical


_UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_UUID = re.compile(_UUID_PATTERN)
TicketId = Annotated[
    str,
    AfterValidator(_valid_ticket_id),
    WithJsonSchema({"type": "string", "format": "uuid", "pattern": _UUID_PATTERN}),
]


class CreateTicketRequest(BaseModel):
    """The body of `POST /api/v1/tickets`."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "priority": 100,
                    "query_context": {
                        "tags": ["music", "flac", "album"],
                        "description": "Abbey Road by The Beatles, prefer 2019 remaster",
                    },
                    "dest_path": "/media/music/beatles/abbey-road",
                }
            ]
        },
    )

    priority: Priority
    query_context: QueryContext
    dest_path: DestPath


class CancelTicketRequest(BaseModel):
    """The optional body of `DELETE /api/v1/tickets/{id}`."""

    model_config = ConfigDict(strict=True, extra="forbid")

    reason: Annotated[Text, Field(max_length=MAX_REASON_CHARS)] | None = None


def _state_wire_schema() -> dict[str, Any]:
    options: list[dict[str, Any]] = []
    for cls in (Cancelled, Completed, Failed):
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
    # The string comes last: openapi-python-client's generated parser tries the options in
    # order and gives up at a `const` that does not match instead of trying the next.
    options.append({"type": "string", "const": "pending", "description": Pending.__doc__})
    return {
        "oneOf": options,
        "description": 'The ticket\'s state: "pending", or one key naming the terminal state.',
    }


def _coerce_state(value: Any) -> Any:
    return value if isinstance(value, _State) else state_from_wire(value)


class FailTicketRequest(BaseModel):
    """The body of `POST /api/v1/tickets/{id}/fail`."""

    model_config = ConfigDict(
        strict=True, extra="forbid", json_schema_extra={"examples": [{"error": "no seeders"}]}
    )

    error: Annotated[Text, Field(min_length=1, max_length=MAX_REASON_CHARS)]


def _state_to_wire(state: TicketState, info: SerializationInfo) -> Any:
    # Serialise by the value's own class: a plain union would pick the first member.
    return state.model_dump(mode=info.mode)


# A state as a model field: read from and written in its wire form, documented as such.
WireState = Annotated[
    TicketState,
    BeforeValidator(_coerce_state),
    PlainSerializer(_state_to_wire),
    WithJsonSchema(_state_wire_schema()),
]


class Ticket(BaseModel):
    """A request for one piece of media, and where it stands."""

    model_config = ConfigDict(frozen=True)

    id: str
    created_at: Timestamp
    created_by: str
    state: WireState
    priority: Priority
    query_context: QueryContext
    dest_path: str
    # The row's `updated_at`: the ETag and the optimistic lock. Not part of the JSON, nor of
    # equality: two reads of one unchanged ticket are equal however they were obtained.
    version: Annotated[str, Field(exclude=True, repr=False)] = ""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ticket):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in CONTENT_FIELDS)

    def __hash__(self) -> int:
        return hash(self.id)

    def is_terminal(self) -> bool:
        """Whether the ticket's state is final."""
        return self.state.is_terminal()

    def can_cancel(self) -> bool:
        """Whether the ticket may still be cancelled."""
        return self.state.can_cancel()


# Query integers are at most 18 digits (`parsing.parse_query`), which always fit SQLite's int64.
MAX_QUERY_INTEGER = 10**18 - 1


def one_or_many(value: Any) -> Any:
    """Let a filter given one value stand for a list of one (`state="pending"`)."""
    return [value] if isinstance(value, str) else value


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339_text(value: Any) -> Any:
    # pydantic alone would also take "0.5" or "1700000000" as a Unix time.
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 timestamp such as 2024-12-25T10:00:00Z")
    return value


StateName = Literal["pending", "cancelled", "completed", "failed"]
QueryTimestamp = Annotated[
    AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_require_utc)
]
TicketSort = Literal["queue", "newest"]


# The fields that make a ticket what it is (all but the version).
CONTENT_FIELDS: tuple[str, ...] = tuple(
    name for name, info in Ticket.model_fields.items() if not info.exclude
)


class TicketFilter(BaseModel):
    """Which tickets to list or count, in which order, and which page.

    Every given condition must hold: one of the `state`s, the creator, every `tag`,
    and `created_after < created_at < created_before`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: Annotated[list[StateName], BeforeValidator(one_or_many), Field(max_length=4)] | None = (
        None
    )
    created_by: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    tag: Annotated[list[Tag], BeforeValidator(one_or_many), Field(max_length=MAX_TAGS)] | None = (
        None
    )
    created_after: QueryTimestamp | None = None
    created_before: QueryTimestamp | None = None
    sort: TicketSort = "queue"
    limit: Annotated[int, Field(ge=1, le=1000)] = 50
    offset: Annotated[int, Field(ge=0, le=MAX_QUERY_INTEGER)] = 0
    after: TicketId | None = Field(
        default=None,
        description=(
            "Start right after this ticket (the `next` links use it): fast at any depth. "
            "With `offset`, skip that many more."
        ),
    )
