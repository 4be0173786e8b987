"""Chalice's media-type check, each answer kept, in the launcher's process.

Chalice's request handler asks whether a content type matches a list of them three times
for every request (the request's type against the route's, the answer's and the
client's `Accept` against the binary types), and each time lower-cases the whole list of
16 binary types and splits the header with a regular expression: about 9 us a request,
a twentieth of the health route. The answer depends on the two arguments alone, and a
server sees few distinct ones, so `matches_content_type` keeps the last
`REMEMBERED` answers; a header longer than `LONGEST_REMEMBERED` (a client may send any
`Accept`) is checked afresh, not kept. `install` makes Chalice use it (tests/unit/
test_content_types.py holds it to Chalice's own answers on generated types).
"""

from __future__ import annotations

import functools

import chalice.app

REMEMBERED = 64
LONGEST_REMEMBERED = 256

_chalice_matches = chalice.app._matches_content_type


@functools.lru_cache(maxsize=REMEMBERED)
def _remembered(content_type: str, valid_content_types: tuple[str, ...]) -> bool:
    return _chalice_matches(content_type, list(valid_content_types))


def matches_content_type(content_type: str, valid_content_types: list[str]) -> bool:
    """What `chalice.app._matches_content_type(content_type, valid_content_types)` returns."""
    if len(content_type) > LONGEST_REMEMBERED:
        return _chalice_matches(content_type, valid_content_types)
    return _remembered(content_type, tuple(valid_content_types))


def install() -> None:
    """Check media types with `matches_content_type` in this process (Chalice's handler
    looks `_matches_content_type` up in its module for each check)."""
    chalice.app._matches_content_type = matches_content_type
