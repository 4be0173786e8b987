"""Reading Markdown the way GitHub renders it, as far as the docs tests need: fenced code
blocks, headings and their anchors, and links."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) and ![alt](target), with an optional "title".
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# [label]: target (reference-style definitions).
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")


@dataclass(frozen=True)
class CodeBlock:
    """A fenced code block: its language tag, the line its first code line is on, its text."""

    language: str
    line: int
    text: str


def code_blocks(markdown: str) -> list[CodeBlock]:
    """Every fenced code block, in document order."""
    blocks: list[CodeBlock] = []
    fence: str | None = None
    language = ""
    start = 0
    body: list[str] = []
    for number, line in enumerate(markdown.splitlines(), start=1):
        opening = _FENCE.match(line)
        if fence is None:
            if opening:
                fence, language, start, body = opening.group(1), opening.group(2), number + 1, []
        elif line.strip().startswith(fence) and not line.strip().strip(fence[0]):
            blocks.append(CodeBlock(language, start, "\n".join(body)))
            fence = None
        else:
            body.append(line)
    if fence is not None:
        raise ValueError(f"code block opened on line {start - 1} is never closed")
    return blocks


def outside_code_blocks(markdown: str) -> list[tuple[int, str]]:
    """(line number, line) of every line outside fenced code blocks, as written."""
    lines: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(markdown.splitlines(), start=1):
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
        else:
            lines.append((number, line))
    return lines


def prose_lines(markdown: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, inline code spans blanked out."""
    return [
        (number, _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line))
        for number, line in outside_code_blocks(markdown)
    ]


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its rendered text, lower case, punctuation
    dropped (letters, digits, '_', '-' and spaces stay), spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link renders as its text
    text = text.replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every heading's anchor; a repeated slug gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in outside_code_blocks(markdown):
        match = _HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(markdown: str) -> list[tuple[int, str]]:
    """(line number, target) of every inline link, image and reference definition outside
    code."""
    found: list[tuple[int, str]] = []
    for number, line in prose_lines(markdown):
        found.extend((number, target) for target in _LINK.findall(line))
        reference = _REFERENCE.match(line)
        if reference:
            found.append((number, reference.group(1)))
    return found
