"""Small helpers shared by the test layers (no test logic of their own)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from chalicelib.service.unit_of_work import Storage, open_storage

T = TypeVar("T")


def example_ticket(**overrides: Any) -> dict[str, Any]:
    """A valid create-ticket body, as in the seed's manual testing guide."""
    body: dict[str, Any] = {
        "priority": 100,
        "query_context": {"tags": ["music", "flac"], "description": "Abbey Road by The Beatles"},
        "dest_path": "/media/music/beatles",
    }
    body.update(overrides)
    return body


LARGEST_TAG = "\N{GRINNING FACE}" * 99 + chr(0x1F400)  # the first of `largest_ticket`'s tags


def largest_ticket(number: int = 0) -> dict[str, Any]:
    """A create-ticket body at the largest sizes the API accepts, each part as long as
    JSON can make it: 10,000 NULs (6 bytes each as JSON), 100 distinct tags of 100 emoji
    (4 bytes each), a 4,096-byte path of quotes and backslashes (2 bytes each)."""
    return {
        "priority": number % 65_536,
        "query_context": {
            "tags": [LARGEST_TAG[:99] + chr(0x1F400 + tag) for tag in range(100)],
            "description": "\0" * 10_000,
        },
        "dest_path": "/" + ('"\\' * 2048)[:4095],
    }


LARGEST_TEXT = "\0" * 10_000  # the longest reason or error, at 6 bytes a character as JSON


def row_counts(db_path: Path) -> tuple[int, int]:
    """(tickets, audit events) in the database, read with plain sqlite3."""
    conn = sqlite3.connect(db_path)
    try:
        tickets = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    finally:
        conn.close()
    return tickets, events


def with_storage(path: Path, work: Callable[[Storage], T]) -> T:
    """Run `work` on storage opened for it alone, as a request opens it (`open_storage`)."""
    with open_storage(path) as storage:
        return work(storage)


def until_not_busy(send: Callable[[], int], patience: float = 120.0) -> int:
    """Send until the answer is not a 503, a second apart (as its `Retry-After: 1` says), as
    a careful client does, with an `Idempotency-Key` where it creates; the last status.
    `send` returns 0 for a connection closed unanswered, which is retried too."""
    deadline = time.monotonic() + patience
    while True:
        status = send()
        if status not in (0, 503) or time.monotonic() > deadline:
            return status
        time.sleep(1)


def wait_until(condition: Callable[[], object], seconds: float = 10) -> None:
    """Wait until `condition()` is true, polling; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
