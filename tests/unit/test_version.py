"""One version, in one place: pyproject.toml reads it from `chalicelib.__version__`, and
CHANGELOG.md's newest release is that version, with the schema this code makes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from chalicelib import __version__
from chalicelib.storage import migrations

PROJECT_DIR = Path(__file__).resolve().parents[2]
RELEASE = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", re.MULTILINE)
SCHEMA = re.compile(r"^Schema: (\d+)\b", re.MULTILINE)


def releases() -> list[tuple[str, str]]:
    """(version, text under its heading) of each release in CHANGELOG.md, newest first."""
    text = (PROJECT_DIR / "CHANGELOG.md").read_text()
    headings = list(RELEASE.finditer(text))
    ends = [h.start() for h in headings[1:]] + [len(text)]
    return [(h[1], text[h.end() : end]) for h, end in zip(headings, ends, strict=True)]


def test_pyproject_reads_the_version_from_the_one_place() -> None:
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    version = project["tool"]["setuptools"]["dynamic"]["version"]
    assert version == {"attr": "chalicelib.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_the_changelog_keeps_a_changelog_with_the_schema_of_each_release() -> None:
    text = (PROJECT_DIR / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n")
    assert "\n## [Unreleased]\n" in text
    found = releases()
    assert found[0][0] == __version__  # the newest release is this code's version
    versions = [tuple(int(part) for part in version.split(".")) for version, _ in found]
    assert versions == sorted(versions, reverse=True)
    schemas = []
    for version, body in found:
        schema = SCHEMA.search(body)
        assert schema, f"release {version} does not say its schema"
        schemas.append(int(schema[1]))
    assert schemas[0] == len(migrations.MIGRATIONS)
    assert schemas == sorted(schemas, reverse=True)  # schemas only go forward
