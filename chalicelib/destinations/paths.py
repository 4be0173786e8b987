"""Whether a path is inside a destination's root, judged on the text alone.

The service never looks at the disk here (the folders may live on another machine, or not
exist yet): a path is normalised as text, then compared segment by segment with each root,
so `/media/movies-old` is not inside `/media/movies`, and no `.` or `..` segment, doubled
slash or trailing slash changes the answer. Look-alike characters are different characters:
`/medi\u0430/movies` (a Cyrillic a) is inside no root of Latin letters. So are spellings
Unicode calls canonically equivalent: a root is stored in NFC, but a ticket's path is
compared as it is written, since a Linux file system takes `/media/\u212aids` (a Kelvin
sign) or an NFD `é` for another folder than the root's `/media/Kids` or NFC `é`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable


def normalise(path: str) -> str:
    """The path in its one text form: NFC, no empty or `.` segments, no trailing slash.

    Raises `ValueError` for a path that is not absolute or has a `..` segment.
    """
    return _collapsed(unicodedata.normalize("NFC", path))


def _collapsed(path: str) -> str:
    """`path` without empty or `.` segments or a trailing slash, its characters as they are
    (names the same folder on any file system). Raises `ValueError` as `normalise` does."""
    if not path.startswith("/"):
        raise ValueError("must be an absolute path (start with '/')")
    segments = [s for s in path.split("/") if s not in ("", ".")]
    if ".." in segments:
        raise ValueError("must not contain a '..' segment")
    return "/" + "/".join(segments)


def is_inside(path: str, root: str) -> bool:
    """Whether `path` is `root` or below it (both already normalised)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def first_root_holding(path: str, roots: Iterable[str]) -> str | None:
    """The first of `roots` (normalised) that holds `path`, compared as written, or None."""
    written = _collapsed(path)
    return next((root for root in roots if is_inside(written, root)), None)
