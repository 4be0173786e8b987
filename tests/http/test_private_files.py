"""The real server keeps what it writes to its owner, whatever the umask: a new
installation's folder, database, journal files, in-use lock, backups and their manifests
(issue 19; tests/store/test_private_files.py shows each part on its own)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import requests

from harness.server_process import Server
from tests.helpers import example_ticket


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_real_server_keeps_its_files_to_its_owner(tmp_path: Path) -> None:
    """`make run` on a new installation (not even its folder exists), then a ticket and a
    backup through the API: everything it wrote in its folder is the owner's alone."""
    data = tmp_path / "data"
    previous = os.umask(0o022)  # the server inherits the umask most systems give
    try:
        server = Server(data / "torrentino.db", log_path=tmp_path / "server.log").start()
    finally:
        os.umask(previous)
    try:
        created = requests.post(f"{server.url}/api/v1/tickets", json=example_ticket(), timeout=60)
        assert created.status_code == 201
        taken = requests.post(f"{server.url}/api/v1/backups", timeout=120)
        assert taken.status_code == 201, taken.text
        written = {path: mode(path) for path in data.rglob("*")}
    finally:
        server.stop()
    assert data / "torrentino.db-wal" in written
    assert data / "backups" / taken.json()["name"] in written
    assert mode(data) == 0o700
    assert {path.name: m for path, m in written.items() if path.is_dir()} == {"backups": 0o700}
    assert {path.name: m for path, m in written.items() if path.is_file()} == {
        path.name: 0o600 for path in written if path.is_file()
    }
