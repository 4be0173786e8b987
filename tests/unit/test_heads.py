"""The launcher's header reader gives the message the stdlib's gives, for any head: plain
ones (which it reads itself) and every other kind (which it hands to the stdlib)."""

from __future__ import annotations

import http.client
import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launcher import heads

NAME_CHARS = st.sampled_from([*"Host-Content-Length_xX0:", " ", "\t", "\x7f", "é", "\r", "\n"])
VALUE_CHARS = st.sampled_from([*"abc 123,;=/:*", "\t", "\r", "\n", "é", "\x00", "\u00ff"])


@st.composite
def header_lines(draw: st.DrawFn) -> bytes:
    """One line of a head: mostly `Name: value`, sometimes anything at all."""
    if draw(st.integers(0, 4)) == 0:
        text = draw(st.text(st.characters(max_codepoint=255), max_size=20))
    else:
        name = draw(st.text(NAME_CHARS, min_size=0, max_size=12))
        value = draw(st.text(VALUE_CHARS, max_size=20))
        envelope = draw(st.sampled_from(["", "From "]))
        space = draw(st.sampled_from(["", " ", "  ", "\t"]))
        text = f"{envelope}{name}:{space}{value}"
    return text.encode("iso-8859-1") + draw(st.sampled_from([b"\r\n", b"\n", b"\r\n", b"\r"]))


def what(parse: Any, head: bytes) -> Any:
    """What a parser makes of a head read from a stream: the message's state (its defects
    by kind: each is an object of its own) and what is left unread, or what it raised."""
    stream = io.BufferedReader(io.BytesIO(head))
    try:
        message = parse(stream)
    except http.client.HTTPException as error:
        return type(error), str(error)
    state = dict(vars(message))
    state["defects"] = [type(defect) for defect in message.defects]
    return state, stream.read()


@settings(max_examples=500, deadline=None)
@given(
    st.lists(header_lines(), max_size=8),
    st.sampled_from([b"\r\n", b"\n", b"", b"\r\nbody"]),
)
def test_any_head_makes_the_message_the_stdlib_makes(lines: list[bytes], end: bytes) -> None:
    head = b"".join(lines) + end
    assert what(heads.parse_headers, head) == what(http.client.parse_headers, head)


@pytest.mark.parametrize(
    "head",
    [
        b"Host: a\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n\r\n",
        b"Host:a\r\nContent-Length:  12  \r\n\r\n",  # no space, and spaces kept at the end
        b"Host: a\r\nX-Folded: one\r\n two\r\n\r\n",  # obs-fold: the stdlib's
        b"Host: a\r\nno colon here\r\n\r\n",  # the stdlib's: the rest is body
        b"Host: a\r\n" + b"X: y\r\n" * 101 + b"\r\n",  # too many headers: raised alike
        b"X: " + b"y" * 70000 + b"\r\n\r\n",  # a line too long: raised alike
    ],
)
def test_heads_of_each_kind_read_alike(head: bytes) -> None:
    assert what(heads.parse_headers, head) == what(http.client.parse_headers, head)


def test_a_plain_head_reads_as_its_lines() -> None:
    head = b"Host: a\r\nAccept: */*\r\n\r\n"
    message = heads.parse_headers(io.BufferedReader(io.BytesIO(head)))
    assert message.items() == [("Host", "a"), ("Accept", "*/*")]
    assert message.get_payload() == "" and message.defects == []
