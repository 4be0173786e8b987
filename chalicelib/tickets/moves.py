"""How a caller moves a ticket into a state: what a state declares beside its fields
(`chalicelib.tickets.states`), and everything derived from it follows from.

A `Move` gives the route (`POST /api/v1/tickets/{id}/<verb>` unless it says otherwise),
who may make it, the body it takes, and its words on the web page. The state's fields are
filled by name: one ending in `_by` is who made the move, one ending in `_at` is when,
and each other comes from the body's field of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

# Who may make a move: the ticket's creator (or an admin), or admins only.
Who = Literal["owner", "admin"]
# How the page draws the move's button: the main action, a quieter one, or a warning.
ButtonStyle = Literal["primary", "secondary", "danger"]


@dataclass(frozen=True)
class Input:
    """How the page asks for one field of a move's body."""

    name: str  # the body's field
    label: str
    hint: str = ""
    missing: str = ""  # what to say when a required field is left empty
    multiline: bool = False


@dataclass(frozen=True)
class Move:
    """How a caller moves a ticket into the state that declares it."""

    verb: str  # names the route (`.../<verb>`), its operation (`<verb>_ticket`) and its 403
    who: Who
    summary: str  # the route's summary in the OpenAPI document
    button: str  # the page's button that makes the move
    body: type[BaseModel] | None = None  # None: no body, or `{}`
    inputs: tuple[Input, ...] = ()  # one per field of the body
    method: str = "POST"
    path: str = ""  # by default `/api/v1/tickets/{ticket_id}/<verb>`
    description: str = ""
    style: ButtonStyle = "primary"
    done: str = ""  # what the page says once it is made (by default "Ticket <state>.")
    quick: str = ""  # the queue's short button for it, with a confirmation; "" for none

    @property
    def route(self) -> str:
        """The route's path, with `{ticket_id}`."""
        return self.path or f"/api/v1/tickets/{{ticket_id}}/{self.verb}"

    @property
    def body_required(self) -> bool:
        """Whether the route needs a body (it has a required field)."""
        fields = self.body.model_fields.values() if self.body is not None else ()
        return any(field.is_required() for field in fields)
