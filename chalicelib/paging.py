"""What every list shares: filters that take one value or many, and pages cut from a query
that read one item more than the page holds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

ItemT = TypeVar("ItemT")

# Query integers are at most 18 digits (`api.parsing.parse_query`): they always fit SQLite's
# int64, and the API document says so.
MAX_QUERY_INTEGER = 10**18 - 1


def one_or_many(value: Any) -> Any:
    """Let a filter given one value stand for a list of one (`state="pending"`)."""
    return [value] if isinstance(value, str) else value


def cut_page(items: Sequence[ItemT], limit: int) -> tuple[list[ItemT], ItemT | None]:
    """The first `limit` of `items` (read with one extra), and the last item on the page if
    there are more after it (the cursor of the next page), else None."""
    page = list(items[:limit])
    return page, (page[-1] if len(items) > limit and page else None)
