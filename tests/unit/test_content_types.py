"""The launcher's media-type check answers as Chalice's own, kept answers or not."""

from __future__ import annotations

import chalice.app
from hypothesis import given
from hypothesis import strategies as st

from launcher import content_types

TYPES = st.sampled_from(
    [
        "application/json",
        "APPLICATION/JSON",
        "text/html; charset=utf-8",
        "*/*",
        "image/*",
        "image/png",
        "application/octet-stream",
        "",
        " ",
        ",;",
        "text/plain",
    ]
)
HEADERS = st.one_of(
    st.lists(TYPES, max_size=4).map(", ".join),
    st.text(max_size=40),
    st.text(alphabet="ab/;, *", min_size=250, max_size=300),  # past what is kept
)


@given(HEADERS, st.lists(TYPES, max_size=5))
def test_every_answer_is_chalices(content_type: str, valid: list[str]) -> None:
    expected = content_types._chalice_matches(content_type, list(valid))
    assert content_types.matches_content_type(content_type, valid) is expected
    assert content_types.matches_content_type(content_type, valid) is expected  # kept


def test_a_long_header_is_not_kept() -> None:
    content_types._remembered.cache_clear()
    accept = "text/plain, " * 40
    assert len(accept) > content_types.LONGEST_REMEMBERED
    assert content_types.matches_content_type(accept, ["text/plain"]) is True
    assert content_types._remembered.cache_info().currsize == 0
    assert content_types.matches_content_type("text/plain", ["text/plain"]) is True
    assert content_types._remembered.cache_info().currsize == 1


def test_install_makes_chalice_use_it() -> None:
    original = chalice.app._matches_content_type
    try:
        content_types.install()
        assert chalice.app._matches_content_type is content_types.matches_content_type
    finally:
        chalice.app._matches_content_type = original
