"""Whether a path is inside a destination, on the text alone: the hostile spellings."""

from __future__ import annotations

import pytest

from chalicelib.destinations.paths import first_root_holding, is_inside, normalise

ROOTS = ["/media/movies", "/media/music"]


@pytest.mark.parametrize(
    ("path", "root"),
    [
        ("/media/movies", "/media/movies"),  # the root itself
        ("/media/movies/", "/media/movies"),  # a trailing slash
        ("/media/movies/kids/moana-2", "/media/movies"),
        ("//media//movies/./kids", "/media/movies"),  # doubled slashes, a `.` segment
        ("/media/music/beatles", "/media/music"),
        ("/media/movies/..hidden", "/media/movies"),  # `..hidden` is a name, not `..`
    ],
)
def test_paths_inside_a_root(path: str, root: str) -> None:
    assert first_root_holding(path, ROOTS) == root


@pytest.mark.parametrize(
    "path",
    [
        "/media/movies-old/moana",  # a prefix of the text, not of the segments
        "/media/moviesx",
        "/media",  # above the roots
        "/",
        "/etc/passwd",
        "/medi\u0430/movies/x",  # a Cyrillic a
        "/media/movie\u0455/x",  # a Cyrillic dze for the s
        "/media/\uff4dovies/x",  # a fullwidth m: NFC keeps it, so it is another name
        "/media/movies\u200b/x",  # a zero-width space
        "/MEDIA/movies/x",  # paths are case-sensitive
        "/media/" + "m" * 5000,  # very long
    ],
)
def test_paths_outside_every_root(path: str) -> None:
    assert first_root_holding(path, ROOTS) is None


@pytest.mark.parametrize(
    "path", ["/media/movies/../../etc", "/media/movies/..", "media/movies/x", ""]
)
def test_a_path_that_climbs_or_is_relative_is_refused_outright(path: str) -> None:
    with pytest.raises(ValueError, match=r"absolute|'\.\.'"):
        normalise(path)


def test_normalising_keeps_one_form() -> None:
    assert normalise("//media/./movies//kids/") == "/media/movies/kids"
    assert normalise("/media/cafe\u0301") == normalise("/media/caf\u00e9")  # NFC
    assert not is_inside("/media/movies-old", "/media/movies")
