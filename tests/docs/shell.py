"""Splitting a documented bash block into its commands, and reading the HTTP status each
curl is expected to get.

A status is stated in a comment, `# → 409` or the seed's `# Expected: 409 Conflict`, at
the end of a command or on the comment line right after it. A curl without one is
expected to succeed (2xx).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EXPECTED = re.compile(r"(?:→|Expected:)\s*(\d{3})\b")
# `curl` where a command starts: at the beginning, or after $( ` | ; && || (.
_CURL = re.compile(r"(?:^|[|;&(`]|\$\()\s*curl(?=\s|$)", re.MULTILINE)


@dataclass
class Command:
    """One command of a bash block, as written."""

    source: str  # its lines exactly as written, comments included
    code: str  # the same without comments
    line: int  # the line of the document it starts on
    expected: int | None = None  # the status its comment states, if any

    @property
    def curls(self) -> int:
        """How many curl invocations the command contains."""
        return len(_CURL.findall(self.code))

    def expected_statuses(self) -> list[int | None]:
        """What each of its curls must answer (None: any 2xx)."""
        if self.expected is not None and self.curls != 1:
            raise ValueError(
                f"line {self.line}: a status comment must follow a command with exactly one curl"
            )
        return [self.expected] * self.curls


def _split_comment(line: str, quote: str | None) -> tuple[str, str, str | None]:
    """(code, comment, open quote at the end of the line) for one physical line."""
    for index, char in enumerate(line):
        if quote is not None:
            if char == quote and not (quote == '"' and index and line[index - 1] == "\\"):
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index], line[index:], None
    return line, "", quote


def _status(comment: str) -> int | None:
    match = _EXPECTED.search(comment)
    return int(match.group(1)) if match else None


def commands(block: str, first_line: int) -> list[Command]:
    """The commands of a bash block whose first line is line `first_line` of its document.

    A command goes on over lines ending in a backslash and over open quotes.
    """
    found: list[Command] = []
    source: list[str] = []
    code: list[str] = []
    quote: str | None = None
    start = 0
    follows: Command | None = None  # the command a comment line right after it belongs to
    for offset, line in enumerate(block.splitlines()):
        number = first_line + offset
        if not source:
            if not line.strip():
                follows = None
                continue
            if line.lstrip().startswith("#"):
                status = _status(line)
                if status is not None:
                    if follows is None or follows.expected is not None:
                        raise ValueError(f"line {number}: a status comment follows no command")
                    follows.expected = status
                continue
            start = number
        text, comment, quote = _split_comment(line, quote)
        source.append(line)
        code.append(text)
        if quote is None and not text.rstrip().endswith("\\"):
            command = Command("\n".join(source), "\n".join(code).strip(), start, _status(comment))
            found.append(command)
            follows = command
            source, code = [], []
    if source:
        raise ValueError(f"line {start}: the command does not end (an open quote or backslash)")
    return found
