"""The scripts the page loads only when a view needs them (`webpage.ON_DEMAND`, the form):
served like the page's own files, held to the same rules as the preloaded scripts, and
loaded by nothing but a dynamic import of their relative path."""

from __future__ import annotations

import re

import pytest

import app  # noqa: F401  (importing it registers the routes)
from chalicelib.api import webpage
from chalicelib.tickets.states import STATE_NAMES
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
        for script in webpage.SCRIPTS
        if f"import('./{name}')" in source(script)
        or re.search(rf"^import .* from '\./{re.escape(name)}';$", source(script), re.M)
    ]
    assert loads, name  # something loads it...
    for script in loads:  # ...and only ever by a dynamic import
        assert f"from './{name}'" not in source(script), script


@pytest.mark.parametrize("name", webpage.ON_DEMAND)
def test_each_follows_the_rules_of_the_preloaded_scripts(name: str) -> None:
    script = source(name)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    assert "new Function" not in script and "import(" not in script
    for imported in re.findall(r"^import .*? from '([^']*)';$", script, flags=re.M | re.S):
        assert imported.removeprefix("./") in webpage.SCRIPTS, imported
    assert not re.search(r"fetch\(\s*['\"`]/", script)
    assert badly_named(names_in(script)) == set()
    for state in STATE_NAMES:  # only core.js names a state
        assert f"'{state}'" not in script, state
