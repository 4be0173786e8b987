"""The ticket: what someone asked for, where it should go, and where it stands; the bodies
that create and change tickets, and the bounds every field keeps."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    ValidationInfo,
    WithJsonSchema,
)

from chalicelib.tickets.states import STATE_CLASSES, TicketState, state_from_wire
from chalicelib.tickets.text import STORED, Unicode, valid_unicode
from chalicelib.timestamps import Timestamp

# Text bounds: generous for people, small enough that nobody can fill the disk
# or the response with one ticket.
MAX_DEST_PATH_BYTES = 4096
MAX_TAGS = 100
MAX_TAG_CHARS = 100
MAX_DESCRIPTION_CHARS = 10_000
MAX_PRIORITY = 65_535

# C0, DEL and C1: every character Unicode calls a control (category Cc). One range, for
# the validators and for the patterns the OpenAPI document shows.
_CONTROL_RANGE = r"\x00-\x1f\x7f-\x9f"
_CONTROL_CHARS = re.compile(f"[{_CONTROL_RANGE}]")


def _valid_dest_path(path: str) -> str:
    valid_unicode(path)
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


def _valid_tag(tag: str, info: ValidationInfo) -> str:
    if info.context is STORED:
        return tag
    valid_unicode(tag)
    if _CONTROL_CHARS.search(tag):
        raise ValueError("a tag must not contain control characters")
    return tag


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
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS), Unicode]


class QueryContext(BaseModel):
    """What to look for: routing tags plus a free-form description."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    tags: Tags
    description: Description


def new_ticket_id() -> str:
    """A fresh random ticket id."""
    return str(uuid.uuid4())


def canonical_ticket_id(text: str) -> str | None:
    """The canonical (lower-case, hyphenated) form of a UUID, or None if it is not one."""
    if _CANONICAL_UUID.fullmatch(text):  # as every id the API gives out: a tenth of parsing
        return text
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


_CANONICAL_UUID = re.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
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


# --- A state as a model field: read from and written in its wire form, documented as such.


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


WireState = Annotated[
    TicketState,
    BeforeValidator(_coerce_state),
    PlainSerializer(_state_to_wire),
    WithJsonSchema(_wire_schema()),
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


# The fields that make a ticket what it is (all but the version).
CONTENT_FIELDS: tuple[str, ...] = tuple(
    name for name, info in Ticket.model_fields.items() if not info.exclude
)
