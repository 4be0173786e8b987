"""The scripts the page loads only when a view needs them (`webpage.ON_DEMAND`: the form
and the modules it imports, the views few people open): served like the page's own files,
held to the same rules as the preloaded scripts, and loaded by nothing but a dynamic import
of their relative path, or a static import from another of them."""

from __future__ import annotations

import re

import pytest

import app  # noqa: F401  (importing it registers the routes)
from chalicelib.api import webpage
from chalicelib.tickets.states import MOVES, STATE_NAMES
from tests.handler.conftest import Api
from tests.handler.test_webpage import assert_secured, get
from tests.handler.test_webpage_names import badly_named, names_in


def source(name: str) -> str:
    return (webpage.UI_DIR / name).read_text(encoding="utf-8")


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
    loads = [
        script
        for script in webpage.SCRIPTS + webpage.ON_DEMAND
        if f"import('./{name}')" in source(script)
        or re.search(rf"^import .* from '\./{re.escape(name)}';$", source(script), re.M)
    ]
    assert loads, name  # something loads it...
    for script in set(loads) & set(webpage.SCRIPTS):  # ...the page only by a dynamic import
        assert f"from './{name}'" not in source(script), script


@pytest.mark.parametrize("name", webpage.ON_DEMAND)
def test_each_follows_the_rules_of_the_preloaded_scripts(name: str) -> None:
    script = source(name)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    assert "new Function" not in script and "import(" not in script
    for imported in re.findall(r"^import .*? from '([^']*)';$", script, flags=re.M | re.S):
        # The page's own, or another loaded on demand (the form's forms.js, priority.js).
        assert imported.removeprefix("./") in webpage.SCRIPTS + webpage.ON_DEMAND, imported
    assert not re.search(r"fetch\(\s*['\"`]/", script)
    assert badly_named(names_in(script)) == set()
    # No copy of the state machine: the page reads it from the server (as test_webpage_states
    # holds the preloaded scripts to).
    for state in STATE_NAMES:
        assert f"'{state}'" not in script and f"{state}:" not in script, state
    assert "TRANSITIONS" not in script
    for move in MOVES.values():
        for text in (move.route, f"/{move.verb}'", move.button):
            assert text not in script, text


@pytest.mark.parametrize("name", webpage.ON_DEMAND)
def test_what_each_imports_is_exported_where_it_imports_it_from(name: str) -> None:
    # Loaded only when a view needs it, a broken import would show only then.
    imports = re.findall(r"^import \{(.*?)\} from '\./([^']*)';$", source(name), re.M | re.S)
    assert imports
    for names, module in imports:
        exported = set(
            re.findall(r"^export (?:async )?(?:const|function|class) (\w+)", source(module), re.M)
        )
        for imported in re.findall(r"\w+", names):
            assert imported in exported, (module, imported)
