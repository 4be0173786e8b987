"""Listing tickets: the filter a caller gives, the SQL that serves it from the indexes, and
the page it gives back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from chalicelib.paging import MAX_QUERY_INTEGER, Page, one_or_many
from chalicelib.tickets.model import MAX_TAGS, Tag, Ticket, TicketId
from chalicelib.tickets.rows import STATE_TYPE, TICKET_COLUMNS, Cursor, ticket_from_json
from chalicelib.tickets.states import STATE_NAMES, StateName
from chalicelib.timestamps import QueryTimestamp, format_timestamp

TicketSort = Literal["queue", "newest"]


class TicketFilter(BaseModel):
    """Which tickets to list or count, in which order, and which page.

    Every given condition must hold: one of the `state`s, the creator, every `tag`,
    and `created_after < created_at < created_before`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: (
        Annotated[list[StateName], BeforeValidator(one_or_many), Field(max_length=len(STATE_NAMES))]
        | None
    ) = None
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


class TicketPage(Page):
    """One page of tickets plus the total that matches the filter."""

    model_config = ConfigDict(frozen=True)
    ITEMS: ClassVar[str] = "tickets"

    tickets: list[Ticket]
    total: int
    limit: int
    offset: int
    next: str | None = None  # the URL of the next page, set by the API layer
    # The id to continue after (`after=`) when there are more tickets; not in the JSON.
    next_after: Annotated[str | None, Field(exclude=True)] = None

    ITEM_OF: ClassVar[Callable[[bytes, str | None], Ticket]] = staticmethod(ticket_from_json)


_ORDER_BY = {"queue": "priority DESC, created_at, id", "newest": "created_at DESC, id DESC"}
# The fields that do not change which tickets match (paging, order), plus the state filter:
# a filter with no others is counted from `ticket_counts`.
_COUNTED_BY_STATE_ONLY = {"state", "sort", "limit", "offset", "after"}


def _conditions(ticket_filter: TicketFilter) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if ticket_filter.state:
        states = sorted(set(ticket_filter.state))
        clauses.append(f"{STATE_TYPE} IN ({', '.join('?' * len(states))})")
        params.extend(states)
    if ticket_filter.created_by is not None:
        clauses.append("created_by = ?")
        params.append(ticket_filter.created_by)
    for tag in sorted(set(ticket_filter.tag or ())):
        clauses.append("id IN (SELECT ticket_id FROM ticket_tags WHERE tag = ?)")
        params.append(tag)
    if ticket_filter.created_after is not None:
        clauses.append("created_at > ?")
        params.append(format_timestamp(ticket_filter.created_after))
    if ticket_filter.created_before is not None:
        clauses.append("created_at < ?")
        params.append(format_timestamp(ticket_filter.created_before))
    return clauses, params


def list_query(
    ticket_filter: TicketFilter, cursor: Cursor | None = None, columns: str = TICKET_COLUMNS
) -> tuple[str, list[Any]]:
    """The SQL and parameters that list a page of tickets' `columns` (also used to show
    query plans; the columns must name `priority`, `created_at` and `id` for the order).

    With a `cursor` the page starts right after that ticket, found by index seeks however
    deep it is, where an OFFSET would step over every skipped entry.
    """
    conditions, params = _conditions(ticket_filter)
    order = _ORDER_BY[ticket_filter.sort]

    def select(extra: list[str]) -> str:
        where = " AND ".join([*conditions, *extra])
        return (
            f"SELECT {columns} FROM tickets{' WHERE ' + where if where else ''}"
            f" ORDER BY {order} LIMIT ? OFFSET ?"
        )

    paging = [ticket_filter.limit, ticket_filter.offset]
    if cursor is None:
        return select([]), [*params, *paging]
    priority, created_at, ticket_id = cursor
    if ticket_filter.sort == "newest":
        return select(["(created_at, id) < (?, ?)"]), [*params, created_at, ticket_id, *paging]
    # Queue order: the rest of the cursor's priority, then every lower priority; each
    # part is one index range, and the two are already in order.
    head = [ticket_filter.limit + ticket_filter.offset, 0]
    # Each part also gives the columns the order names, whatever `columns` are.
    columns += ", priority, created_at"
    sql = (
        f"SELECT * FROM ({select(['priority = ?', '(created_at, id) > (?, ?)'])})"
        f" UNION ALL SELECT * FROM ({select(['priority < ?'])})"
        f" ORDER BY {order} LIMIT ? OFFSET ?"
    )
    return sql, [
        *params, priority, created_at, ticket_id, *head,
        *params, priority, *head,
        *paging,
    ]  # fmt: skip


def count_query(ticket_filter: TicketFilter) -> tuple[str, list[Any]]:
    """The SQL and parameters that count every ticket the filter matches, whatever the page.

    Filtered by state at most, the count is one lookup per state in `ticket_counts`, which
    triggers keep in step with `tickets`, so it costs the same at any table size.
    """
    if not ticket_filter.model_dump(exclude=_COUNTED_BY_STATE_ONLY, exclude_defaults=True):
        states = sorted(set(ticket_filter.state or ()))
        where = f" WHERE state IN ({', '.join('?' * len(states))})" if states else ""
        return f"SELECT coalesce(sum(tickets), 0) FROM ticket_counts{where}", states
    conditions, params = _conditions(ticket_filter)
    where = " WHERE " + " AND ".join(conditions) if conditions else ""
    return f"SELECT count(*) FROM tickets{where}", params
