"""The service's own actor names (anonymous, system, admin-cli, admin-invoke) are reserved
as a person reads them: no key may be made for `Anonymous`, `ADMIN_CLI` or `system` in
fullwidth letters, by the command line (`make keys`) or by the `keys` Lambda function, so
no audit entry can pass for the service's own (issue 19, threat 5)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.actors import RESERVED_NAMES, reserved_name_like
from chalicelib.api.key_commands import run_key_command
from chalicelib.errors import InvalidInput
from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key, list_keys

PROJECT_DIR = Path(__file__).resolve().parents[2]


def fullwidth(text: str) -> str:
    """`text` in fullwidth forms (U+FF01 to U+FF5E), as East Asian keyboards type it."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


def alphabet(first: int, text: str) -> str:
    """`text`'s lower-case letters in another alphabet of 26 starting at code point `first`."""
    return "".join(chr(first + ord(char) - ord("a")) for char in text)


HOSTILE = {
    "Anonymous": "anonymous",
    "ANONYMOUS": "anonymous",
    "aNoNyMoUs": "anonymous",
    "Admin-CLI": "admin-cli",
    "ADMIN_CLI": "admin-cli",
    "admin.cli": "admin-cli",
    "Admin-Invoke": "admin-invoke",
    "System": "system",
    fullwidth("SYSTEM"): "system",
    fullwidth("anonymous"): "anonymous",
    fullwidth("admin-cli"): "admin-cli",  # with a fullwidth hyphen
    "admin\N{HYPHEN}cli": "admin-cli",
    "admin\N{EN DASH}invoke": "admin-invoke",
    "\N{LATIN SMALL LETTER LONG S}ystem": "system",
    alphabet(0x1D41A, "system"): "system",  # mathematical bold
    alphabet(0x24D0, "anonymous"): "anonymous",  # circled letters
    "\N{MODIFIER LETTER CAPITAL A}nonymous": "anonymous",
    "anony\N{ZERO WIDTH SPACE}mous": "anonymous",
    "sys\N{SOFT HYPHEN}tem": "system",
}
DIFFERENT = [
    "alice",
    "system2",
    "sys-tem",
    "anonymous-fan",
    "admin",
    "cli",
    "Anonymo\N{LATIN SMALL LETTER U WITH DIAERESIS}s",
]


def key_rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        count: int = conn.execute("SELECT count(*) FROM api_keys").fetchone()[0]
        return count
    finally:
        conn.close()


@pytest.mark.parametrize("spelling", sorted(HOSTILE))
def test_a_spelling_that_reads_as_a_reserved_name_is_recognised(spelling: str) -> None:
    assert reserved_name_like(spelling) == HOSTILE[spelling]


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
def test_the_reserved_names_themselves_are_reserved(name: str) -> None:
    assert reserved_name_like(name) == name


@pytest.mark.parametrize("name", DIFFERENT)
def test_names_that_read_differently_are_not_reserved(name: str) -> None:
    assert reserved_name_like(name) is None


@pytest.mark.parametrize("spelling", sorted(HOSTILE))
def test_no_key_is_made_for_a_hostile_spelling(db_path: Path, spelling: str) -> None:
    with pytest.raises(InvalidInput, match="reserved") as refused:
        create_key(db_path, spelling, Role.ADMIN)
    assert refused.value.field == "user"
    answer = run_key_command({"command": "create", "user": spelling, "role": "admin"}, db_path)
    assert answer["error"]["code"] == "invalid_input"
    assert "reserved" in answer["error"]["message"]
    assert [detail["field"] for detail in answer["error"]["details"]] == ["user"]
    assert list_keys(db_path) == []
    assert key_rows(db_path) == 0


@pytest.mark.parametrize(
    "spelling", ["Anonymous", "Admin-CLI", fullwidth("SYSTEM"), "admin_invoke"]
)
def test_the_command_line_refuses_a_hostile_spelling(db_path: Path, spelling: str) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "chalicelib.keys", "--db", str(db_path), "create", spelling],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1
    assert "reserved" in refused.stderr
    assert "trn_" not in refused.stdout
    assert key_rows(db_path) == 0


def test_a_name_that_reads_differently_still_gets_a_key(db_path: Path) -> None:
    info, _ = create_key(db_path, "anonymous-fan", Role.USER)
    assert info.user == "anonymous-fan"
