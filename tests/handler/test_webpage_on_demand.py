"""The scripts the page loads only when a view needs them (`webpage.ON_DEMAND`: the form and
what it uses, the admins' views): served like the page's own files, held to the same rules
as the preloaded scripts, and loaded by nothing but a dynamic import of their relative path
or a static import from another of them, never with the page."""

from __future__ import annotations

import re

import pytest

import app  # noqa: F401  (importing it registers the routes)
from chalicelib.api import webpage
from chalicelib.tickets.states import STATE_NAMES
from tests.handler.conftest import Api
from tests.handler.test_webpage import assert_secured, get
from tests.handler.test_webpage_names import badly_named, names_in

EVERY_SCRIPT = webpage.SCRIPTS + webpage.ON_DEMAND


def source(name: str) -> str:
    return (webpage.UI_DIR / name).read_text(encoding="utf-8")


def static_imports(name: str) -> set[str]:
    found = re.findall(r"^import .*? from '\./([^']*)';$", source(name), flags=re.M | re.S)
    return set(found)


@pytest.mark.parametrize("name", webpage.ON_DEMAND)
def test_each_is_served_with_its_type_and_the_security_headers(api: Api, name: str) -> None:
    status, body, headers = get(api, f"/ui/{name}")
    assert status == 200
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert_secured(headers)
    assert body == source(name)


@pytest.mark.parametrize("name", webpage.ON_DEMAND)
def test_each_is_loaded_on_demand_and_not_with_the_page(name: str) -> None:
    html = source(webpage.PAGE)
    assert name not in html  # neither loaded nor preloaded, so not part of the page's weight
    assert name not in webpage.CONTENT_TYPES and name not in webpage.SCRIPTS
    dynamic = [script for script in EVERY_SCRIPT if f"import('./{name}')" in source(script)]
    static = [script for script in EVERY_SCRIPT if name in static_imports(script)]
    assert dynamic or static, name  # something loads it...
    # ...but no script of the page as it loads imports it: that would load it with the page.
    assert not set(static) & set(webpage.SCRIPTS), static


def test_what_the_page_loads_at_once_imports_nothing_on_demand() -> None:
    for name in webpage.SCRIPTS:
        assert static_imports(name) <= set(webpage.SCRIPTS), name


@pytest.mark.parametrize("name", webpage.ON_DEMAND)
def test_each_follows_the_rules_of_the_preloaded_scripts(name: str) -> None:
    script = source(name)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    assert "new Function" not in script and "import(" not in script
    for imported in re.findall(r"^import .*? from '([^']*)';$", script, flags=re.M | re.S):
        assert imported.removeprefix("./") in EVERY_SCRIPT, imported
    assert not re.search(r"fetch\(\s*['\"`]/", script)
    assert badly_named(names_in(script)) == set()
    for state in STATE_NAMES:  # only core.js names a state
        assert f"'{state}'" not in script, state
