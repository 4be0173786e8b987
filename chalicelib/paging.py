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

# A page read at once (`read_page`) holds at most this much of its rows' JSON; a larger one
# is read again a few rows at a time (`read_page_rows`).
AT_ONCE_BYTES = 2 * MAX_PAGE_BYTES

# How a page's rows make each item's JSON right, where SQLite's is not the model's.
ItemJson = Callable[[bytes], bytes]


def one_or_many(value: Any) -> Any:
    """Let a filter given one value stand for a list of one (`state="pending"`)."""
    return [value] if isinstance(value, str) else value


@dataclass(frozen=True)
class PageItems:
    """A page's items as JSON, each one's version (None where items have none), and the id
    of the last one if more follow (the cursor of the next page), else None."""

    encoded: list[bytes]
    versions: list[str | None]
    last: Any | None


@dataclass(frozen=True)
class PageQuery:
    """What a page is read from: a query for `limit + 1` rows of `json` (an item's JSON as
    UTF-8 bytes), `id` (its cursor) and `version`, and a query for the total; with
    `item_json` when some items' JSON from SQLite must be made right."""

    rows: tuple[str, list[Any]]
    total: tuple[str, list[Any]]
    item_json: ItemJson | None = None


def read_page(conn: sqlite3.Connection, query: PageQuery, limit: int) -> tuple[PageItems, int]:
    """Up to `limit` items, as long as their JSON stays within `MAX_PAGE_BYTES`, and the
    total, from one statement (so one snapshot).

    SQLite steps through the rows and joins their JSON into one row, where a row at a time
    would come back to Python, and wait for the GIL behind other requests, for each. A page
    whose rows hold more than `AT_ONCE_BYTES` of JSON is read a few rows at a time instead
    (`read_page_rows`), and then the caller's transaction is its snapshot.
    """
    (rows_sql, rows_params), (total_sql, total_params) = query.rows, query.total
    sql = (
        "SELECT CAST(group_concat(json, ',') AS BLOB), group_concat(length(json)),"
        f" group_concat(id), group_concat(version, ','), ({total_sql}) FROM ({rows_sql})"
    )
    previous = conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, AT_ONCE_BYTES)
    try:
        row = conn.execute(sql, [*total_params, *rows_params]).fetchone()
    except sqlite3.DataError:  # "string or blob too big": over AT_ONCE_BYTES
        row = None
    finally:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, previous)
    if row is None:
        found = read_page_rows(conn.execute(rows_sql, rows_params), limit, query.item_json)
        return found, int(conn.execute(total_sql, total_params).fetchone()[0])
    joined, lengths, ids, versions, total = row
    if joined is None:  # no rows
        return PageItems([], [], None), int(total)
    sizes = [int(size) for size in lengths.split(",")]
    encoded, start = [], 0
    for size in sizes:
        encoded.append(joined[start : start + size])
        start += size + 1
    return _within_budget(encoded, ids, versions, limit, query.item_json), int(total)


def _within_budget(
    encoded: list[bytes], ids: str, versions: str | None, limit: int, item_json: ItemJson | None
) -> PageItems:
    if item_json is not None:
        encoded = [item_json(item) for item in encoded]
    kept, size = 0, -1  # the commas between items: one fewer than the items
    for item in encoded[:limit]:
        size += len(item) + 1
        if kept and size > MAX_PAGE_BYTES:
            break
        kept += 1
    keys = ids.split(",")
    last = keys[kept - 1] if len(encoded) > kept else None
    shown: list[str | None] = [None] * kept
    if versions is not None:
        shown = list(versions.split(",")[:kept])
    return PageItems(encoded[:kept], shown, last)


def _rows_to_read(largest: int) -> int:
    # The first row alone; then as many as make a sixteenth of the budget at the size of
    # the largest item so far: up to 16 small ones, one at a time when they are large.
    if largest == 0:
        return 1
    return max(1, min(ROWS_PER_READ, MAX_PAGE_BYTES // 16 // largest))


def read_page_rows(rows: sqlite3.Cursor, limit: int, item_json: ItemJson | None) -> PageItems:
    """`read_page`'s items, read a few rows at a time: never many more rows than the page
    shows, whatever their size. Closes `rows`."""
    encoded: list[bytes] = []
    versions: list[str | None] = []
    size = -1  # the commas between items: one fewer than the items
    largest = 0  # the largest item's JSON so far
    last_key: str | None = None
    try:
        while batch := rows.fetchmany(_rows_to_read(largest)):
            for json_bytes, key, version, *_ in batch:  # (and what the order needs)
                json = json_bytes if item_json is None else item_json(json_bytes)
                if len(encoded) == limit or (encoded and size + len(json) + 1 > MAX_PAGE_BYTES):
                    return PageItems(encoded, versions, last_key)
                size += len(json) + 1
                encoded.append(json)
                versions.append(version)
                last_key = str(key)
                largest = max(largest, len(json))
    finally:
        rows.close()
    return PageItems(encoded, versions, None)


class Page(BaseModel):
    """A page of items (its first field, named `ITEMS`) and what is said about them.

    Read from the database (`of_items`), a page holds its items' JSON as SQLite made it:
    `json_body` joins it, and the items are built from it (`ITEM_OF`) only when something
    asks for them.
    """

    ITEMS: ClassVar[str]
    # One item from its JSON and version, for a page read with `of_items` (each page's own).
    ITEM_OF: ClassVar[Callable[[bytes, str | None], Any]]
    _found: PageItems | None = PrivateAttr(default=None)
    _built: list[Any] | None = PrivateAttr(default=None)  # the items built from `_found`

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # json_body puts the items first, where the model's own JSON has them.
        assert next(iter(cls.model_fields)) == cls.ITEMS, cls

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
                found = private["_found"]
                pairs = zip(found.encoded, found.versions, strict=True)
                items = [self.ITEM_OF(encoded, version) for encoded, version in pairs]
                private["_built"] = items
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
