"""The shape of the documentation: a short README, and docs that say whom they are for."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
README_LIMIT = 12_000  # characters: read in ten minutes; the depth lives in docs/


def test_the_readme_stays_short() -> None:
    assert len((PROJECT_DIR / "README.md").read_text()) <= README_LIMIT


@pytest.mark.parametrize(
    "document", sorted((PROJECT_DIR / "docs").glob("*.md")), ids=lambda path: path.name
)
def test_each_doc_begins_by_saying_whom_it_is_for(document: Path) -> None:
    lines = [line for line in document.read_text().splitlines() if line.strip()]
    assert lines[0].startswith("# ")
    assert lines[1].startswith("For "), lines[1]
