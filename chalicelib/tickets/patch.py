"""The body of an edit: a JSON Merge Patch (RFC 7396) of the fields an edit may change,
validated as a create validates them, and what it changes on a ticket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from chalicelib.tickets.model import Description, DestPath, Priority, QueryContext, Tags, Ticket

# What an edit may change, by the dotted names errors and `ticket_updated` events use.
EDITABLE_FIELDS = ("priority", "query_context.tags", "query_context.description", "dest_path")
# Fields every ticket has that no edit changes: named in a patch, they are refused by name.
FIXED_FIELDS = ("id", "state", "created_by", "created_at")


def _members_without_null(schema: dict[str, Any]) -> None:
    # A patch's member is optional (absent: unchanged) but never null, which in a merge patch
    # removes the member: document each by its value's own schema, with no null and no default.
    for member in schema.get("properties", {}).values():
        options = member.pop("anyOf", [])
        member.pop("default", None)
        member.update(next((o for o in options if o.get("type") != "null"), {}))


def _update_schema(schema: dict[str, Any]) -> None:
    _members_without_null(schema)
    schema["examples"] = [
        {"priority": 200, "query_context": {"tags": ["music", "flac", "remaster"]}}
    ]


class _MergePatch(BaseModel):
    """An object of a JSON Merge Patch (RFC 7396) over a ticket: a member given replaces
    the ticket's, a member left out keeps it, and none may be null (every field is needed)."""

    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra=_members_without_null)

    @field_validator("*", mode="before")
    @classmethod
    def _not_removed(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            raise ValueError(
                f"{info.field_name} cannot be removed (null): every ticket has one; leave it "
                "out to keep it as it is"
            )
        return value


class QueryContextPatch(_MergePatch):
    """The members of `query_context` a patch replaces (`tags` as a whole list)."""

    tags: Tags | None = None
    description: Description | None = None


class UpdateTicketRequest(_MergePatch):
    """The body of `PATCH /api/v1/tickets/{id}`: a JSON Merge Patch (RFC 7396) of the
    fields an edit may change, each validated as a create validates it."""

    model_config = ConfigDict(json_schema_extra=_update_schema)

    priority: Priority | None = None
    query_context: QueryContextPatch | None = None
    dest_path: DestPath | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_fixed_field(cls, data: Any) -> Any:
        fixed = [name for name in FIXED_FIELDS if isinstance(data, dict) and name in data]
        if fixed:
            allowed = ", ".join(EDITABLE_FIELDS)
            raise ValidationError.from_exception_data(
                cls.__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "fixed_field",
                            "{name} cannot be changed; an edit may change {allowed}",
                            {"name": name, "allowed": allowed},
                        ),
                        loc=(name,),
                        input=data[name],
                    )
                    for name in fixed
                ],
            )
        return data

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> UpdateTicketRequest:
        """The patch that sets these fields (by dotted name); raises `ValidationError`."""
        body: dict[str, Any] = {}
        for name, value in values.items():
            outer, _, inner = name.partition(".")
            if inner:
                body.setdefault(outer, {})[inner] = value
            else:
                body[name] = value
        return cls.model_validate(body)

    def values(self) -> dict[str, Any]:
        """The fields the patch sets, by dotted name."""
        context = self.query_context or QueryContextPatch()
        given = {
            "priority": self.priority,
            "query_context.tags": context.tags,
            "query_context.description": context.description,
            "dest_path": self.dest_path,
        }
        return {name: value for name, value in given.items() if value is not None}

    def changes(self, ticket: Ticket) -> dict[str, tuple[Any, Any]]:
        """Each field the patch would change on `ticket`: its old and new value."""
        current = editable_values(ticket)
        return {
            name: (current[name], value)
            for name, value in self.values().items()
            if value != current[name]
        }

    def apply_to(self, ticket: Ticket) -> Ticket:
        """`ticket` with the patch's fields replaced (its version unchanged)."""
        merged = {**editable_values(ticket), **self.values()}
        context = QueryContext.model_construct(
            tags=merged["query_context.tags"], description=merged["query_context.description"]
        )
        return ticket.model_copy(
            update={
                "priority": merged["priority"],
                "query_context": context,
                "dest_path": merged["dest_path"],
            }
        )


def editable_values(ticket: Ticket) -> dict[str, Any]:
    """The fields an edit may change, by dotted name, as `ticket` has them."""
    return {
        "priority": ticket.priority,
        "query_context.tags": list(ticket.query_context.tags),
        "query_context.description": ticket.query_context.description,
        "dest_path": ticket.dest_path,
    }
