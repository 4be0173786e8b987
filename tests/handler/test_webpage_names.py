"""The page's scripts name what they hold: no single-letter names (but `h`, the element
helper, named as hyperscript and Preact name it), and none with a leading or trailing
underscore standing in for a better name."""

from __future__ import annotations

import re

from chalicelib.api import webpage

ALLOWED_SHORT = {"h"}
IDENTIFIER = r"[A-Za-z_$][\w$]*"
# Where a script gives something a name: declarations, function names and parameters,
# arrow parameters, destructuring, catch.
DECLARED = re.compile(rf"\b(?:const|let|var|function|class)\s+({IDENTIFIER})")
PARAMETER_LISTS = re.compile(
    r"\bfunction\s*[\w$]*\s*\(([^()]*)\)"  # function f(a, b)
    r"|\(([^()]*)\)\s*=>"  # (a, b) =>
    r"|\bcatch\s*\(([^()]*)\)"  # catch (a)
    r"|\b(?:const|let|var)\s*(\[[^\]]*\]|\{[^}]*\})\s*="  # const [a, b] = / const { a } =
    r"|\bfor\s*\(\s*const\s*(\[[^\]]*\]|\{[^}]*\})\s*of"  # for (const [a, b] of
)
ARROW_SINGLE = re.compile(rf"(?<![\w$.)\]])({IDENTIFIER})\s*=>")


def names_in(source: str) -> set[str]:
    # Strings and comments are not code: blank them out first.
    code = re.sub(r"//[^\n]*|/\*.*?\*/", "", source, flags=re.S)
    code = re.sub(r"'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`", "''", code)
    names = set(DECLARED.findall(code)) | set(ARROW_SINGLE.findall(code))
    for groups in PARAMETER_LISTS.findall(code):
        for parameters in groups:
            for parameter in re.sub(r"=[^,]*", "", parameters).split(","):
                names.update(re.findall(IDENTIFIER, parameter.replace("...", "")))
    return names


def badly_named(names: set[str]) -> set[str]:
    return {
        name
        for name in names
        if (len(name) == 1 and name not in ALLOWED_SHORT)
        or name.startswith("_")
        or name.endswith("_")
    }


def test_the_checker_finds_what_it_looks_for() -> None:
    sample = """
        const d = 1; let view_ = 2;
        function f(t, { method = 'GET', body } = {}) { return t; }
        list.map((b) => b).filter(e => e); for (const [k, value] of x) {}
        try {} catch (x) {}
        const text = 'a (c) => c string'; // (z) => z in a comment
    """
    assert badly_named(names_in(sample)) == {"d", "view_", "f", "t", "b", "e", "k", "x"}
    assert {"method", "body", "value", "text"} <= names_in(sample)


def test_every_name_in_the_scripts_explains_itself() -> None:
    for name in webpage.SCRIPTS:
        source = (webpage.UI_DIR / name).read_text(encoding="utf-8")
        assert badly_named(names_in(source)) == set(), name
