"""The state machine as `GET /api/v1/states` describes it, for clients that offer only what
is allowed (the web page): each state, the states it may move to, and the move into it,
all read from the declarations in `chalicelib.tickets.states`."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.tickets.moves import ButtonStyle, Input, Move, Who
from chalicelib.tickets.states import ALLOWED_TRANSITIONS, STATE_CLASSES, STATE_NAMES, Pending


class MoveInput(BaseModel):
    """One field of a move's body, and how to ask a person for it."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="The body's field.")
    label: str
    hint: str
    required: bool
    missing: str | None = Field(description="What to say when it is required and left empty.")
    multiline: bool = Field(description="Whether it is a text of several lines.")
    max_length: int | None = Field(description="At most this many characters.")


class StateMove(BaseModel):
    """The route that moves a ticket into a state, who may call it, and its words."""

    model_config = ConfigDict(frozen=True)

    method: str
    path: str = Field(description="The route, with `{ticket_id}` for the ticket's id.")
    who: Who = Field(description="`owner`: the ticket's creator or an admin; `admin`: admins.")
    event: str = Field(description="The audit event it records.")
    button: str = Field(description="The label of the button that makes the move.")
    style: ButtonStyle
    done: str = Field(description="What to say once it is made.")
    quick: str | None = Field(description="A short label to offer it in a list of tickets.")
    inputs: list[MoveInput] = Field(description="The body's fields; none: send no body.")


class StateInfo(BaseModel):
    """One state: its name, the states a ticket in it may move to, and the move into it."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    next: list[str] = Field(description="The states it may move to; none: it is final.")
    move: StateMove | None = Field(description="How a caller moves a ticket into it, if one may.")
    editable: bool = Field(description="Whether a ticket in it may be edited (`PATCH`).")
    file_again: bool = Field(
        description="Whether a ticket that ended in it may be filed again: it ended without"
        " what it asked for."
    )


class TicketStates(BaseModel):
    """The ticket states in the order they are declared, and the state a new ticket is in."""

    model_config = ConfigDict(frozen=True)

    initial: str
    states: list[StateInfo]


def _input(move: Move, given: Input) -> MoveInput:
    assert move.body is not None  # an input is a field of the body
    schema: dict[str, Any] = move.body.model_json_schema()["properties"][given.name]
    required = move.body.model_fields[given.name].is_required()
    # An optional field's bounds are in the branch that is not null.
    lengths = [
        option["maxLength"]
        for option in (schema, *schema.get("anyOf", ()))
        if "maxLength" in option
    ]
    return MoveInput(
        name=given.name,
        label=given.label,
        hint=given.hint,
        required=required,
        missing=(given.missing or f"{given.label}: it is required.") if required else None,
        multiline=given.multiline,
        max_length=lengths[0] if lengths else None,
    )


def _move(kind: str, move: Move) -> StateMove:
    return StateMove(
        method=move.method,
        path=move.route,
        who=move.who,
        event=STATE_CLASSES[kind].event.value,
        button=move.button,
        style=move.style,
        done=move.done or f"Ticket {kind}.",
        quick=move.quick or None,
        inputs=[_input(move, given) for given in move.inputs],
    )


@functools.cache
def ticket_states() -> TicketStates:
    """The state machine, described once per process (it is fixed at start-up)."""
    return TicketStates(
        initial=Pending.kind,
        states=[
            StateInfo(
                name=kind,
                description=str(cls.__doc__),
                next=[name for name in STATE_NAMES if name in ALLOWED_TRANSITIONS[kind]],
                move=None if cls.move is None else _move(kind, cls.move),
                editable=cls.editable,
                file_again=cls.file_again,
            )
            for kind, cls in STATE_CLASSES.items()
        ],
    )
