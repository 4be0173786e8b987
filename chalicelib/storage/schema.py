"""The exact schema torrentino's migrations make, and how a file's schema differs from it.

A backup, or a database being checked, is accepted only when its `sqlite_master` is
exactly what the migrations make for its `user_version`: every table, index, trigger and
view, compared by type, name, table and SQL text (comments aside, each run of whitespace
read as one space; quoted names and strings exactly). An extra trigger or view is code
that would run inside torrentino; an extra index or a changed table is not what the code
was written for. The expected schema is read from a new file migrated to that version,
so it cannot drift from the migrations. The one latitude: the statistics tables that
`ANALYZE` and `PRAGMA optimize` create (`sqlite_stat1`, ...), which hold no code.

The schema is read on a `db.untrusted` connection: reading it runs nothing from the file.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import NamedTuple

from chalicelib.storage import db, migrations

# Quoted strings and names (kept exactly), comments, whitespace, and everything else.
_TOKEN = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]"""
    r"|--[^\n]*|/\*.*?(?:\*/|\Z)|\s+|[^'\"`\[\s/-]+|.",
    re.DOTALL,
)


class SchemaObject(NamedTuple):
    """One row of `sqlite_master`, its SQL normalised (empty for SQLite's own indexes)."""

    type: str
    name: str
    table: str
    sql: str


def normalise(sql: str) -> str:
    """SQL text without comments, each run of whitespace one space, quoted text untouched:
    two texts that normalise alike are the same statement."""
    parts: list[str] = []
    for match in _TOKEN.finditer(sql):
        token = match.group()
        if token[0].isspace() or token.startswith(("--", "/*")):
            if parts and parts[-1] != " ":
                parts.append(" ")
        else:
            parts.append(token)
    return "".join(parts).strip()


def _text(value: object) -> str:
    return "" if value is None else value if isinstance(value, str) else repr(value)


def read(conn: sqlite3.Connection) -> frozenset[SchemaObject]:
    """The schema of the file `conn` is open on (a `db.untrusted` connection)."""
    rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return frozenset(
        SchemaObject(_text(kind), _text(name), _text(table), normalise(_text(sql)))
        for kind, name, table, sql in rows
    )


@functools.cache
def expected(version: int) -> tuple[frozenset[SchemaObject], frozenset[SchemaObject]]:
    """What the migrations make at `version` (0 to the latest), and the statistics tables
    `ANALYZE` may add to it."""
    with TemporaryDirectory(prefix="torrentino-schema-") as scratch:
        path = Path(scratch) / "expected.db"
        migrations.migrate(path, to=version)
        with db.untrusted(path) as conn:
            made = read(conn)
        with db.connect(path) as conn:
            conn.execute("ANALYZE")
        with db.untrusted(path) as conn:
            statistics = read(conn) - made
    return made, statistics


def differences(found: frozenset[SchemaObject], version: int) -> list[str]:
    """How the schema `found` differs from what the migrations make at `version`, one line
    per object that is extra, missing or different; empty when it is exactly that."""
    if not 0 <= version <= len(migrations.MIGRATIONS):
        return [f"no torrentino has schema version {version}"]
    made, statistics = expected(version)
    extra = {(o.type, o.name): o for o in found - made - statistics}
    missing = {(o.type, o.name): o for o in made - found}
    lines = []
    for kind, name in sorted(extra.keys() | missing.keys()):
        if (kind, name) not in extra:
            lines.append(f"missing {kind} {name}")
        elif (kind, name) in missing:
            lines.append(f"{kind} {name} differs from what the migrations make")
        else:
            table = extra[kind, name].table
            lines.append(f"extra {kind} {name}" + (f" on {table}" if table != name else ""))
    return lines
