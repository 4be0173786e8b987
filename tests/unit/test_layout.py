"""The code's shape: small modules and classes, imports that run one way, one opener of
SQLite, and no block of code written twice.

`app.py` sits over `chalicelib`, which never imports Chalice outside its HTTP layer
(`chalicelib/api/`); inside `chalicelib` no module
imports one that (directly or through others) imports it back.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
PACKAGE = PROJECT / "chalicelib"
MAX_MODULE_LINES = 350
MAX_CLASS_LINES = 120


def modules() -> dict[str, Path]:
    """Every module of chalicelib by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PROJECT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported(path: Path) -> Iterator[str]:
    """The modules a file imports, by dotted name (`from a import b` counts `a` and `a.b`)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_and_classes_stay_small(name: str) -> None:
    source = modules()[name].read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            assert node.end_lineno is not None
            assert node.end_lineno - node.lineno + 1 <= MAX_CLASS_LINES, node.name


HTTP_LAYER = "chalicelib.api"  # the one package of chalicelib that may use Chalice


def test_chalicelib_never_imports_chalice_or_the_app() -> None:
    for name, path in modules().items():
        banned = ("app",) if name.startswith(HTTP_LAYER) else ("chalice", "app")
        outside = {m for m in imported(path) if m.split(".")[0] in banned}
        assert not outside, (name, outside)


def test_chalicelib_has_no_import_cycles() -> None:
    known = modules()
    graph = {
        name: {m for m in imported(path) if m in known and m != name}
        for name, path in known.items()
    }
    # A package's __init__ imports nothing of its own, so an edge to a package is no cycle.
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                raise AssertionError(" -> ".join([*trail, name, target]))
            if target not in state:
                visit(target, [*trail, name])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def connects(path: Path) -> bool:
    """Whether a file calls `sqlite3.connect` itself."""
    return any(
        isinstance(node, ast.Attribute)
        and node.attr == "connect"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sqlite3"
        for node in ast.walk(ast.parse(path.read_text()))
    )


def test_only_db_opens_sqlite_connections() -> None:
    # One place sets a connection up (URI, busy timeout, journal mode, synchronous), so no
    # module can open the database some other way by accident.
    openers = {name for name, path in modules().items() if connects(path)}
    assert openers == {"chalicelib.storage.db"}


REPEAT_LINES = 6


def product_files() -> list[Path]:
    """What the service runs: `app.py`, `chalicelib/` (with the web page), the launcher and
    the harnesses the tests and benchmarks run it with."""
    suffixes = {".py", ".js", ".css", ".html"}
    found = [PROJECT / "app.py"]
    for folder in (PACKAGE, PROJECT / "launcher", PROJECT / "harness"):
        found += sorted(path for path in folder.rglob("*") if path.suffix in suffixes)
    return found


def test_no_block_of_six_lines_is_written_twice() -> None:
    # Lines compared without their indentation, blank lines left out: a block pasted into
    # a deeper function, or with a blank line added, is still the same block.
    first_seen: dict[tuple[str, ...], str] = {}
    repeated = []
    for path in product_files():
        lines = [(n, line.strip()) for n, line in enumerate(path.read_text().splitlines(), 1)]
        lines = [(n, text) for n, text in lines if text]
        for start in range(len(lines) - REPEAT_LINES + 1):
            block = tuple(text for _, text in lines[start : start + REPEAT_LINES])
            place = f"{path.relative_to(PROJECT)}:{lines[start][0]}"
            if block in first_seen:
                repeated.append(f"{place} repeats {first_seen[block]}")
            else:
                first_seen[block] = place
    assert repeated == []


def package_of(module: str) -> str:
    """The top-level part of chalicelib a module belongs to (`chalicelib.tickets.store`
    is in `tickets`, `chalicelib.settings` is its own)."""
    return module.split(".")[1] if module.count(".") >= 1 else module


def test_packages_import_one_way() -> None:
    # Between the rooms of chalicelib (tickets, audit, keys, backups, storage, service, api,
    # and the shared modules), imports run one way. An entry point (`__main__`) is imported
    # by nobody, so it is left out.
    known = {name: path for name, path in modules().items() if path.name != "__main__.py"}
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        if name == "chalicelib":
            continue
        targets = {
            package_of(m) for m in imported(path) if m in known and m.startswith("chalicelib.")
        }
        graph.setdefault(package_of(name), set()).update(targets - {package_of(name)})
    reaches: dict[str, set[str]] = {}

    def reach(package: str, trail: tuple[str, ...]) -> set[str]:
        if package in trail:
            raise AssertionError(" -> ".join([*trail, package]))
        if package not in reaches:
            found = set(graph.get(package, ()))
            for target in sorted(graph.get(package, ())):
                found |= reach(target, (*trail, package))
            reaches[package] = found
        return reaches[package]

    for package in sorted(graph):
        reach(package, ())
    assert "tickets" in reaches["api"] and "api" not in reaches["tickets"]
