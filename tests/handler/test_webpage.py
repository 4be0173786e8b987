"""The web page's routes through chalice.test.Client: files, types, security headers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chalicelib.api import webpage
from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from tests.handler.conftest import Api

UI_DIR = webpage.UI_DIR


def get(
    api: Api, path: str, headers: dict[str, str] | None = None
) -> tuple[int, str, dict[str, str]]:
    response = api.client.http.get(path, headers=headers or {})
    return response.status_code, response.body.decode("utf-8"), response.headers


def assert_secured(headers: dict[str, str]) -> None:
    policy = headers["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split("; ")}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_is_served_at_the_root(api: Api) -> None:
    status, body, headers = get(api, "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert_secured(headers)
    assert body == (UI_DIR / "index.html").read_text(encoding="utf-8")
    assert '<script type="module" src="ui/app.js"></script>' in body


@pytest.mark.parametrize("name", sorted(set(webpage.CONTENT_TYPES) - {webpage.PAGE}))
def test_each_file_of_the_page_is_served_with_its_type(api: Api, name: str) -> None:
    status, body, headers = get(api, f"/ui/{name}")
    assert status == 200
    assert headers["Content-Type"] == webpage.CONTENT_TYPES[name]
    assert_secured(headers)
    assert body == (UI_DIR / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["nope.js", "index.htm", "..%2Fapp.py", "%2E%2E", "app.JS"])
def test_anything_else_under_ui_is_the_json_404(api: Api, name: str) -> None:
    status, body, headers = get(api, f"/ui/{name}")
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert '"route_not_found"' in body


def test_an_unchanged_file_is_a_304(api: Api) -> None:
    status, _, headers = get(api, "/ui/app.js")
    etag = headers["ETag"]
    status, body, again = get(api, "/ui/app.js", {"If-None-Match": etag})
    assert (status, body) == (304, "")
    assert again["ETag"] == etag
    assert_secured(again)
    assert get(api, "/ui/app.js", {"If-None-Match": '"other"'})[0] == 200
    assert get(api, "/ui/app.css", {"If-None-Match": etag})[0] == 200


def test_the_page_needs_no_key_but_the_api_does(api: Api, handler_db: Path) -> None:
    create_key(handler_db, "alice", Role.ADMIN)
    assert get(api, "/")[0] == 200
    assert get(api, "/ui/app.js")[0] == 200
    assert api.call("GET", "/api/v1/me")[0] == 401


def scripts() -> dict[str, str]:
    return {name: (UI_DIR / name).read_text(encoding="utf-8") for name in webpage.SCRIPTS}


def test_the_scripts_never_parse_text_as_html() -> None:
    for name, script in scripts().items():
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in script, (name, sink)
        assert "new Function" not in script, name
        assert "setTimeout('" not in script and 'setTimeout("' not in script, name


def test_the_scripts_import_only_each_other() -> None:
    imported = set()
    on_demand = set()
    for name, script in scripts().items():
        for source in re.findall(r"^import .*? from '([^']*)';$", script, flags=re.M | re.S):
            assert source.startswith("./"), (name, source)
            imported.add(source.removeprefix("./"))
        # A view or form loaded when first needed: by a literal name, one of ON_DEMAND.
        loaded = re.findall(r"import\('\./([^']*)'\)", script)
        assert script.count("import(") == len(loaded), name
        on_demand.update(loaded)
    # ...or a module only such a view or form imports (the form's forms.js and priority.js).
    for name in webpage.ON_DEMAND:
        script = (UI_DIR / name).read_text(encoding="utf-8")
        found = re.findall(r"^import .*? from '\./([^']*)';$", script, flags=re.M | re.S)
        on_demand.update(set(found) - set(webpage.SCRIPTS))
    assert on_demand == set(webpage.ON_DEMAND)
    assert imported == set(webpage.SCRIPTS) - {"app.js", *webpage.ON_DEMAND}


def test_the_page_refers_only_to_its_own_files_by_relative_urls() -> None:
    html = (UI_DIR / "index.html").read_text(encoding="utf-8")
    urls = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert urls
    for url in urls:
        assert not re.match(r"^([a-z]+:|//|/)", url), url
    local = {url.removeprefix("ui/") for url in urls if url.startswith("ui/")}
    assert local == set(webpage.CONTENT_TYPES) - {webpage.PAGE, *webpage.ON_DEMAND}
    assert "<style" not in html and " style=" not in html
    assert re.findall(r"<script[^>]*>", html) == ['<script type="module" src="ui/app.js">']
    # Every module of the first load is preloaded, so they arrive together rather than one
    # import at a time; the views loaded on demand are not part of it.
    preloaded = re.findall(r'<link rel="modulepreload" href="ui/([^"]*)">', html)
    assert set(preloaded) == set(webpage.SCRIPTS) - {"app.js", *webpage.ON_DEMAND}
    # The API is called by relative URLs, so the stage prefix of API Gateway is kept.
    assert "export const API = 'api/v1/';" in scripts()["core.js"]
    for name, script in scripts().items():
        assert not re.search(r"fetch\(\s*['\"`]/", script), name


@pytest.mark.parametrize(
    ("client_path", "location"),
    [("/api", "api/"), ("/prod/torrentino", "torrentino/"), ("/api/", None), ("/", None)],
)
def test_the_page_without_its_trailing_slash_redirects_to_it(
    client_path: str, location: str | None
) -> None:
    # Under API Gateway the context's path is the client's, stage included (/api for the
    # stage root without its slash), where relative URLs would leave the stage.
    assert webpage.folder_redirect(client_path) == location


def test_the_page_under_chalice_local_is_not_redirected(api: Api) -> None:
    status, _, headers = get(api, "/")
    assert status == 200
    assert "Location" not in headers
