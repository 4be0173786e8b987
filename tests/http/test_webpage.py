"""The web page over real HTTP: served by the same server as the API, small, and secured."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key
from harness.server_process import Server

MAX_PAGE_BYTES = 60_000  # 60 KB, read as 1,000 bytes each: the stricter reading


def page_files(base: str) -> dict[str, requests.Response]:
    """The page, every file it refers to and every module those import (statically: what a
    browser must load before the page runs), as the server sends them. Modules loaded on
    demand (a dynamic `import()`) are not part of it; tests/browser/test_weight.py counts
    what Chromium itself loads."""
    page = requests.get(f"{base}/", timeout=10)
    files = {"/": page}
    wanted = re.findall(r'(?:src|href)="(ui/[^"]*)"', page.text)
    while wanted:
        url = wanted.pop()
        if url in files:
            continue
        files[url] = requests.get(f"{base}/{url}", timeout=10)
        if url.endswith(".js"):
            imported = re.findall(r"^import .*? from '\./([^']*)';$", files[url].text, re.M | re.S)
            wanted += [f"ui/{name}" for name in imported]
    return files


def test_the_page_and_its_files_weigh_at_most_60_kb(server: Server) -> None:
    files = page_files(server.url)
    assert {"/", "ui/app.js", "ui/app.css"} <= set(files)
    for url, response in files.items():
        assert response.status_code == 200, url
        assert "Content-Encoding" not in response.headers  # the sizes below are uncompressed
    total = sum(len(response.content) for response in files.values())
    print(f"\nthe page's files: {total:,} bytes ({total / 1000:.1f} KB) uncompressed")
    assert total <= MAX_PAGE_BYTES


def test_every_file_of_the_page_carries_the_security_headers(server: Server) -> None:
    for url, response in page_files(server.url).items():
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy, url
        assert "frame-ancestors 'none'" in policy, url
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url


def test_the_page_works_in_open_mode_and_with_keys(tmp_path: Path) -> None:
    with Server(tmp_path / "page.db") as running:
        assert requests.get(f"{running.url}/", timeout=10).status_code == 200
        assert requests.get(f"{running.url}/api/v1/me", timeout=10).json()["open_mode"] is True
        key = create_key(running.db_path, "alice", Role.USER)[1]
        assert requests.get(f"{running.url}/", timeout=10).status_code == 200
        assert requests.get(f"{running.url}/api/v1/me", timeout=10).status_code == 401
        me = requests.get(f"{running.url}/api/v1/me", headers={"X-Api-Key": key}, timeout=10)
        assert me.json() == {"name": "alice", "role": "user", "open_mode": False}


def test_an_unknown_file_is_the_json_404(server: Server) -> None:
    response = requests.get(f"{server.url}/ui/secrets.txt", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "route_not_found"
