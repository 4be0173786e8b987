"""Schema text is compared as SQL, not as bytes: comments and runs of whitespace do not
count, anything quoted counts exactly (`chalicelib.storage.schema.normalise`)."""

from __future__ import annotations

import pytest

from chalicelib.storage.schema import normalise


@pytest.mark.parametrize(
    ("written", "read"),
    [
        (
            "CREATE TABLE t (\n    a TEXT,   -- a comment\n    b INTEGER\n)",
            "CREATE TABLE t ( a TEXT, b INTEGER )",
        ),
        ("CREATE INDEX i ON t(a)/* why */", "CREATE INDEX i ON t(a)"),
        ("CREATE TABLE t (a TEXT) -- trailing, unterminated", "CREATE TABLE t (a TEXT)"),
        ("CREATE INDEX i ON t(a) /* unterminated", "CREATE INDEX i ON t(a)"),
        ("SELECT a - b / c", "SELECT a - b / c"),
    ],
)
def test_comments_and_whitespace_do_not_count(written: str, read: str) -> None:
    assert normalise(written) == read


@pytest.mark.parametrize(
    "quoted",
    ["'a  b'", "'it''s -- not a comment'", '"odd  name"', "[a  b]", "`a  b`", "'/* x */'"],
)
def test_quoted_text_counts_exactly(quoted: str) -> None:
    assert normalise(f"SELECT  {quoted}") == f"SELECT {quoted}"


def test_a_comment_cannot_hide_what_follows_it() -> None:
    # The comment ends the line: what the next line says is still part of the statement.
    assert normalise("CREATE TABLE t (a -- x\n, b)") != normalise("CREATE TABLE t (a -- x , b)")
