"""Every relative link in README.md and docs/*.md resolves: the file (or directory)
exists, and a `#anchor` names a heading of its target, as GitHub makes anchors."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.docs.markdown import anchors, github_slug, links

PROJECT_DIR = Path(__file__).resolve().parents[2]
README = PROJECT_DIR / "README.md"
DOCS = sorted((PROJECT_DIR / "docs").glob("*.md"))
DOCUMENTS = [README, *DOCS]


def broken_links(document: Path) -> list[str]:
    """Each relative link of `document` that does not resolve, with its line."""
    problems = []
    for line, target in links(document.read_text()):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue  # absolute: not ours to check
        path = (document.parent / unquote(parts.path)).resolve() if parts.path else document
        if not path.exists():
            problems.append(f"{document.name}:{line}: {target}: no such file")
        elif parts.fragment:
            if path.is_dir() or path.suffix != ".md":
                problems.append(f"{document.name}:{line}: {target}: an anchor into a non-Markdown")
            elif unquote(parts.fragment) not in anchors(path.read_text()):
                problems.append(f"{document.name}:{line}: {target}: no such heading")
    return problems


def test_the_docs_exist() -> None:
    names = {d.name for d in DOCS}
    for name in ("api", "architecture", "reliability", "benchmarks", "security"):
        assert f"{name}.md" in names


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d.relative_to(PROJECT_DIR).as_posix())
def test_every_relative_link_resolves(document: Path) -> None:
    assert broken_links(document) == []


def test_the_readme_points_into_every_doc() -> None:
    targets = {urlsplit(t).path for _, t in links(README.read_text())}
    for document in DOCS:
        assert document.relative_to(PROJECT_DIR).as_posix() in targets


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Two commands", "two-commands"),
        ("`GET /api/v1/tickets`: list", "get-apiv1tickets-list"),
        ("Errors, and what they mean", "errors-and-what-they-mean"),
        ("If-Match & ETag", "if-match--etag"),
        ("See [the API](api.md)", "see-the-api"),
        ("snake_case stays", "snake_case-stays"),
    ],
)
def test_anchors_are_made_as_github_makes_them(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug


def test_a_broken_link_or_anchor_is_reported(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Title\n## Part two\n## Part two\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Doc\n[ok](other.md#part-two-1) [ok](#doc) [web](https://example.com/x)\n"
        "[gone](missing.md) [bad anchor](other.md#part-three)\n"
        "```\n[in code](nowhere.md)\n```\n`[inline](nowhere.md)` [self](#nope)\n"
        "[ref]: other.md#title\n"
    )
    assert broken_links(doc) == [
        "doc.md:3: missing.md: no such file",
        "doc.md:3: other.md#part-three: no such heading",
        "doc.md:7: #nope: no such heading",
    ]
