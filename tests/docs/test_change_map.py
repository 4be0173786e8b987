"""docs/architecture.md's "Where a change goes" and "Files" are held to the code: every file
they name exists, every name they say to write is in the files of its row, every module has
its line in the map, migrations are registered by being written, and every setting is in
the README's configuration table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from chalicelib.storage import migrations

PROJECT = Path(__file__).resolve().parents[2]
ARCHITECTURE = (PROJECT / "docs" / "architecture.md").read_text()
_CODE = re.compile(r"`([^`]+)`")
_PATH = re.compile(r"^[\w./-]+\.(?:py|js|css|md|json|html)$|^[\w.-]+/$")


def section(title: str) -> str:
    start = ARCHITECTURE.index(f"## {title}")
    end = ARCHITECTURE.find("\n## ", start + 1)
    return ARCHITECTURE[start : end if end != -1 else None]


def table_rows(text: str) -> list[tuple[str, str]]:
    """(first cell, second cell) of each body row of the section's table."""
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [tuple(cell.strip() for cell in row.strip("|").split("|", 1)) for row in rows[1:]]  # type: ignore[misc]


CHANGES = table_rows(section("Where a change goes"))
FILES = table_rows(section("Files"))


def named_paths(cell: str) -> list[str]:
    found = [code for code in _CODE.findall(cell) if _PATH.match(code)]
    return [code for code in found if "/" in code or (PROJECT / code).exists()]


def test_the_table_covers_every_kind_of_change() -> None:
    kinds = [kind for kind, _ in CHANGES]
    for kind in ("a state", "a transition", "a route", "an error", "an audit event"):
        assert kind in kinds
    for kind in ("a setting", "a migration", "a command"):
        assert kind in kinds


@pytest.mark.parametrize(("kind", "places"), CHANGES, ids=[kind for kind, _ in CHANGES])
def test_each_change_names_files_that_exist_and_names_that_are_in_them(
    kind: str, places: str
) -> None:
    paths = named_paths(places)
    assert paths, kind
    texts = []
    for path in paths:
        assert (PROJECT / path).exists(), path
        texts.append((PROJECT / path).read_text())
    texts.append((PROJECT / "README.md").read_text())  # the configuration table
    for code in _CODE.findall(places):
        if code in paths or "..." in code or "/" in code or " " in code:
            continue
        name = code.lstrip("@")
        assert any(name in text for text in texts), (kind, name)


def product_modules() -> list[str]:
    found = []
    for folder in ("chalicelib", "launcher", "harness"):
        for path in sorted((PROJECT / folder).rglob("*.py")):
            if path.name != "__init__.py":
                found.append(path.relative_to(PROJECT).as_posix())
    return found


def test_every_module_has_its_line_in_the_files_table() -> None:
    mapped = {path for _, holds in FILES for path in named_paths(holds)}
    mapped |= {path for file, _ in FILES for path in named_paths(file)}
    for path in mapped:
        assert (PROJECT / path).exists(), path
    assert [module for module in product_modules() if module not in mapped] == []


def test_writing_a_migration_registers_it_in_order() -> None:
    source = (PROJECT / "chalicelib" / "storage" / "migrations.py").read_text()
    steps = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and re.match(r"_m\d{3}_", node.name)
    ]
    for node in steps:
        decorators = [d.id for d in node.decorator_list if isinstance(d, ast.Name)]
        assert decorators == ["migration"], node.name
    assert [step.__name__ for step in migrations.MIGRATIONS] == [node.name for node in steps]
    numbers = [int(node.name[2:5]) for node in steps]
    assert numbers == list(range(1, len(steps) + 1))


def settings_in_code() -> set[str]:
    found: set[str] = set()
    for path in [
        PROJECT / "chalicelib" / "settings.py",
        *sorted((PROJECT / "launcher").glob("*.py")),
    ]:
        found |= set(re.findall(r'"(TORRENTINO_[A-Z_]+)"', path.read_text()))
    return found


def test_every_setting_is_in_the_readmes_configuration_table() -> None:
    readme = (PROJECT / "README.md").read_text()
    table = "\n".join(line for line in readme.splitlines() if line.startswith("| `TORRENTINO_"))
    cells = [cell for line in table.splitlines() for cell in _CODE.findall(line.split("|")[1])]
    full = {cell for cell in cells if "..." not in cell}
    parts = [cell.strip("._") for cell in cells if "..." in cell]
    code = settings_in_code()
    assert code, "no settings found"
    for variable in sorted(code):
        assert variable in full or any(part in variable for part in parts), variable
    assert full <= code | {"TORRENTINO_DB_PATH"}
