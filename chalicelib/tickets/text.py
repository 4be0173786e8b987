"""Text people type into a ticket or a move's body: valid Unicode, of bounded length."""

from __future__ import annotations

import re

from pydantic import AfterValidator, ValidationInfo

MAX_REASON_CHARS = 10_000  # a reason, an error: generous for people, small for the disk

_SURROGATES = re.compile(r"[\ud800-\udfff]")


# The validation context of text read back from the database, checked when it was written:
# the checks let it through (`chalicelib.tickets.rows` reads a page of tickets so).
STORED = "stored"


def valid_unicode(text: str, info: ValidationInfo | None = None) -> str:
    """`text` itself; raises `ValueError` for a lone surrogate (not for `STORED` text)."""
    if info is not None and info.context is STORED:
        return text
    if _SURROGATES.search(text):
        raise ValueError("text must be valid Unicode (no lone surrogates)")
    return text


# Text people type: valid Unicode. Its length bounds go before it in a field's annotation,
# so a too-long text is reported as too many characters.
Unicode = AfterValidator(valid_unicode)
