"""A request's header lines, read as http.server reads them, in a fifth of the time.

http.server reads a request's header lines with `http.client.parse_headers`, which hands
them to the email package's parser: about 40 us for five headers, a sixth of what the
whole health route costs. Most heads are plain `Name: value` lines, and for those the
message that parser makes is simple to make directly. `parse_headers` does that when
every line is plain, and hands any other head (a folded line, a stray CR, a line that
is no header, an envelope `From ` line) to the stdlib's parser as before: the message is
the same either way (tests/unit/test_heads.py holds the two together on generated heads).
`install` makes http.server (and http.client) use it, in the launcher's process only.
"""

from __future__ import annotations

import email.parser
import http.client
import re
from typing import BinaryIO

# A field name (what the email parser takes for one: printable ASCII but the colon), its
# colon and its value, then the line's end: no CR or LF anywhere else.
_PLAIN = re.compile(r"[\x21-\x39\x3b-\x7e]+:[^\r\n]*(?:\r\n|\n)")
_END = (b"\r\n", b"\n")


def parse_headers(
    fp: BinaryIO, _class: type[http.client.HTTPMessage] = http.client.HTTPMessage
) -> http.client.HTTPMessage:
    """What `http.client.parse_headers(fp, _class)` returns, and raises."""
    lines: list[bytes] = http.client._read_headers(fp)  # type: ignore[attr-defined]
    texts = [line.decode("iso-8859-1") for line in lines]
    if lines[-1] not in _END or not all(_PLAIN.fullmatch(text) for text in texts[:-1]):
        return email.parser.Parser(_class=_class).parsestr("".join(texts))
    message = _class()
    for text in texts[:-1]:
        name, value = text.split(":", 1)
        # What the parser's policy (compat32) stores for a one-line header.
        message.set_raw(name, value.lstrip(" \t").rstrip("\r\n"))
    message.set_payload("")  # the parser's: the empty body after the blank line
    return message


def install() -> None:
    """Read every head with `parse_headers` in this process (http.server looks it up on
    `http.client` for each request)."""
    http.client.parse_headers = parse_headers  # type: ignore[assignment]
