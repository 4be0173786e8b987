"""What every list shares: filters that take one value or many, and pages read a few rows
at a time until they hold `limit` items or about a mebibyte of JSON, encoded once."""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, PrivateAttr
from pydantic_core import to_json

ItemT = TypeVar("ItemT", bound=BaseModel)

# Query integers are at most 18 digits (`api.parsing.parse_query`): they always fit SQLite's
# int64, and the API document says so.
MAX_QUERY_INTEGER = 10**18 - 1
# A page's items stop at this much JSON (a page holds one item at least, whatever its
# size; the largest ticket or event the API accepts is ~130 kB): an answer that a small
# home server builds in a few MB, and that a Lambda response (6 MB at most) holds.
MAX_PAGE_BYTES = 1 << 20
# Rows are read a few at a time (`_rows_to_read`), so a page never holds many more rows
# than it shows, whatever their size.
ROWS_PER_READ = 16


def one_or_many(value: Any) -> Any:
    """Let a filter given one value stand for a list of one (`state="pending"`)."""
    return [value] if isinstance(value, str) else value


@dataclass(frozen=True)
class PageItems(Generic[ItemT]):
    """A page's items, the JSON of each, and the last one if more follow (the cursor of
    the next page), else None."""

    items: list[ItemT]
    encoded: list[bytes]
    last: ItemT | None


def _rows_to_read(largest: int) -> int:
    # The first row alone; then as many as make a sixteenth of the budget at the size of
    # the largest item so far: up to 16 small ones, one at a time when they are large.
    if largest == 0:
        return 1
    return max(1, min(ROWS_PER_READ, MAX_PAGE_BYTES // 16 // largest))


def read_page(
    rows: sqlite3.Cursor, item_of: Callable[[sqlite3.Row], ItemT], limit: int
) -> PageItems[ItemT]:
    """Up to `limit` items from `rows` (a query for `limit + 1`), as long as their JSON
    stays within `MAX_PAGE_BYTES`, read a few rows at a time. Closes `rows`."""
    items: list[ItemT] = []
    encoded: list[bytes] = []
    size = -1  # the commas between items: one fewer than the items
    largest = 0  # the largest item's JSON so far
    try:
        while batch := rows.fetchmany(_rows_to_read(largest)):
            for row in batch:
                if len(items) == limit:
                    return PageItems(items, encoded, items[-1])
                item = item_of(row)
                json = to_json(item)
                size += len(json) + 1
                if items and size > MAX_PAGE_BYTES:
                    return PageItems(items, encoded, items[-1])
                items.append(item)
                encoded.append(json)
                largest = max(largest, len(json))
    finally:
        rows.close()
    return PageItems(items, encoded, None)


class Page(BaseModel):
    """A page of items (its first field, named `ITEMS`) and what is said about them.

    Its items were encoded once, to measure them (`read_page`); `json_body` reuses that
    JSON rather than encoding them again.
    """

    ITEMS: ClassVar[str]
    _encoded: tuple[list[Any], list[bytes]] | None = PrivateAttr(default=None)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # json_body puts the items first, where the model's own JSON has them.
        assert next(iter(cls.model_fields)) == cls.ITEMS, cls

    def keeping_json(self, found: PageItems[Any]) -> Self:
        """This page, remembering the JSON `read_page` made of its items."""
        items = getattr(self, self.ITEMS)
        if len(items) == len(found.items) and all(map(operator.is_, items, found.items)):
            self._encoded = (items, found.encoded)
        return self

    def json_body(self) -> str:
        """The page as JSON: exactly `model_dump_json()`, its items encoded only once."""
        items = getattr(self, self.ITEMS)
        if self._encoded is None or self._encoded[0] is not items:
            return self.model_dump_json()
        rest = self.model_dump_json(exclude={self.ITEMS})  # {"total":...}
        joined = b",".join(self._encoded[1]).decode()
        tail = "}" if rest == "{}" else "," + rest[1:]
        return f'{{"{self.ITEMS}":[{joined}]{tail}'
