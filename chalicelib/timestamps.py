"""Timestamps: one text form, RFC 3339 in UTC with microseconds and a `Z`.

It is what the API shows and what the database stores, and in it text order is time
order, so SQLite compares and indexes timestamps as plain text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, PlainSerializer, WithJsonSchema


def utc_now() -> datetime:
    """The current time in UTC, at the microsecond resolution we store."""
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with a four-digit year and a six-digit fraction: text order is time order."""
    # Not strftime: glibc's %Y writes the year 999 as "999", which sorts after "2026".
    if moment.tzinfo is UTC:  # most are (`utc_now`, `_require_utc`): one call, not three
        return moment.isoformat(timespec="microseconds")[:-6] + "Z"
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
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None:
        raise ValueError("timestamp must carry a time zone")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        raise ValueError("timestamp is outside years 1 to 9999 in UTC") from None


# A timestamp field of a model: read as any aware time, written in the one text form.
Timestamp = Annotated[
    datetime,
    AfterValidator(_require_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2024-12-25T10:00:00.000000Z"]}
    ),
]

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339_text(value: Any) -> Any:
    # pydantic alone would also take "0.5" or "1700000000" as a Unix time.
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 timestamp such as 2024-12-25T10:00:00Z")
    return value


# A timestamp in a query string: RFC 3339 text with a time zone, nothing else.
QueryTimestamp = Annotated[
    AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_require_utc)
]
