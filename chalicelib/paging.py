"""What every list shares: filters that take one value or many, and pages read a few rows
at a time until they hold `limit` items or about a mebibyte of JSON.

A page's rows come from SQLite as each item's JSON already (`tickets.listing.TICKET_JSON`,
`audit.events.EVENT_JSON`), byte for byte what the item's model writes: a page of 50 is
not 50 models built and encoded in Python. Its items are built from that JSON only when
something asks for them (tests, a caller in Python); an answer never does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast

from pydantic import BaseModel, PrivateAttr

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

# How `read_page` takes an item's JSON from its row.
ItemJson = Callable[[sqlite3.Row], bytes]


def one_or_many(value: Any) -> Any:
    """Let a filter given one value stand for a list of one (`state="pending"`)."""
    return [value] if isinstance(value, str) else value


@dataclass(frozen=True)
class PageItems:
    """A page's items as JSON, the rows they came from, and the last row if more follow
    (the cursor of the next page), else None."""

    encoded: list[bytes]
    rows: list[sqlite3.Row]
    last: sqlite3.Row | None


def _rows_to_read(largest: int) -> int:
    # The first row alone; then as many as make a sixteenth of the budget at the size of
    # the largest item so far: up to 16 small ones, one at a time when they are large.
    if largest == 0:
        return 1
    return max(1, min(ROWS_PER_READ, MAX_PAGE_BYTES // 16 // largest))


def _first_column(row: sqlite3.Row) -> bytes:
    encoded: bytes = row[0]
    return encoded


def read_page(rows: sqlite3.Cursor, limit: int, item_json: ItemJson = _first_column) -> PageItems:
    """Up to `limit` items from `rows` (a query for `limit + 1`, each row's first column
    its item's JSON, unless `item_json` says otherwise), as long as their JSON stays within
    `MAX_PAGE_BYTES`, read a few rows at a time. Closes `rows`."""
    encoded: list[bytes] = []
    kept: list[sqlite3.Row] = []
    size = -1  # the commas between items: one fewer than the items
    largest = 0  # the largest item's JSON so far
    try:
        while batch := rows.fetchmany(_rows_to_read(largest)):
            for row in batch:
                if len(encoded) == limit:
                    return PageItems(encoded, kept, kept[-1])
                json = item_json(row)
                size += len(json) + 1
                if encoded and size > MAX_PAGE_BYTES:
                    return PageItems(encoded, kept, kept[-1])
                encoded.append(json)
                kept.append(row)
                largest = max(largest, len(json))
    finally:
        rows.close()
    return PageItems(encoded, kept, None)


class Page(BaseModel):
    """A page of items (its first field, named `ITEMS`) and what is said about them.

    Read from the database (`of_items`), a page holds its items' JSON as SQLite made it:
    `json_body` joins it, and the items are built from their rows (`item_of`) only when
    something asks for them.
    """

    ITEMS: ClassVar[str]
    _found: PageItems | None = PrivateAttr(default=None)
    _built: list[Any] | None = PrivateAttr(default=None)  # the items built from `_found`

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # json_body puts the items first, where the model's own JSON has them.
        assert next(iter(cls.model_fields)) == cls.ITEMS, cls

    @classmethod
    def item_of(cls, row: sqlite3.Row) -> Any:
        """One item, from its row (for a page read with `of_items`)."""
        raise NotImplementedError(cls)

    @classmethod
    def of_items(cls, found: PageItems, **fields: Any) -> Self:
        """The page of `found`, with `fields`: everything but its items, already valid."""
        page = cast(Self, cls.model_construct(**fields))  # the pydantic plugin says Page
        page._found = found
        return page

    if not TYPE_CHECKING:  # what mypy would otherwise take every attribute for

        def __getattr__(self, name: str) -> Any:
            # The items of a page read as JSON, built the first time they are asked for.
            private = self.__pydantic_private__
            if name == self.ITEMS and private and private["_found"] is not None:
                items = private["_built"] = [self.item_of(row) for row in private["_found"].rows]
                fields = self.__dict__  # the items first, where the model's JSON has them
                rest = dict(fields)
                fields.clear()
                fields.update({name: items, **rest})
                return items
            return super().__getattr__(name)

        def model_dump(self, **kwargs: Any) -> dict[str, Any]:
            getattr(self, self.ITEMS)  # the serializer reads the fields as they are
            return super().model_dump(**kwargs)

        def model_dump_json(self, **kwargs: Any) -> str:
            exclude = kwargs.get("exclude")
            if not (isinstance(exclude, set | dict) and self.ITEMS in exclude):
                getattr(self, self.ITEMS)
            return super().model_dump_json(**kwargs)

    def json_body(self) -> str:
        """The page as JSON: exactly `model_dump_json()`, with its items' JSON as SQLite
        made it (unless a copy was given other items)."""
        found, items = self._found, self.__dict__.get(self.ITEMS)
        if found is None or (items is not None and items is not self._built):
            return self.model_dump_json()
        rest = self.model_dump_json(exclude={self.ITEMS})  # {"total":...}
        joined = b",".join(found.encoded).decode()
        tail = "}" if rest == "{}" else "," + rest[1:]
        return f'{{"{self.ITEMS}":[{joined}]{tail}'
