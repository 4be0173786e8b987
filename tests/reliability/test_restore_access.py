"""Restores against real servers and the real command lines (issue 19, threat 2): the
server's own start-up backup, taken before its first key, does not bring open mode back,
and a key revoked after a backup does not work again after restoring it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from chalicelib.backups.check import check_database
from chalicelib.backups.files import list_backups
from chalicelib.backups.kinds import BackupKind
from harness.server_process import PROJECT_DIR, Server
from tests.reliability.test_backups import wait_for

TIMEOUT = 60


def command(db: Path, *args: str) -> str:
    """`make keys ARGS=...`, `make backup` or `make restore FILE=...` on `db` (they run
    `python -m chalicelib.cli ARGS`); its output."""
    result = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", *args],
        cwd=PROJECT_DIR,
        env={**os.environ, "TORRENTINO_DB_PATH": str(db)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def new_key(db: Path, user: str, role: str) -> tuple[str, str]:
    """A key made as `make keys ARGS="create <user> --role <role>"`: (id, key)."""
    lines = command(db, "keys", "create", user, "--role", role).splitlines()
    return lines[0].split()[2], lines[-1]


def status(server: Server, key: str | None) -> int:
    headers = {"X-Api-Key": key} if key else {}
    return requests.get(f"{server.url}/api/v1/me", headers=headers, timeout=TIMEOUT).status_code


def test_restoring_never_reopens_the_server_or_brings_a_revoked_key_back(tmp_path: Path) -> None:
    db, backups = tmp_path / "torrentino.db", tmp_path / "backups"
    server = Server(db, env={"TORRENTINO_BACKUP_EVERY_HOURS": "24"})
    with server:  # a new installation: its start-up backup has no key
        wait_for(lambda: bool(list_backups(backups, db.stem)), "the start-up backup")
        assert status(server, None) == 200
    [start_up] = list_backups(backups, db.stem)
    alice_id, alice = new_key(db, "alice", "admin")
    bob_id, bob = new_key(db, "bob", "user")

    printed = command(db, "backup", "restore", start_up.name)

    assert f"keys: carried over from the live database: {alice_id} alice (admin), active" in printed
    assert f"keys: carried over from the live database: {bob_id} bob (user), active" in printed
    with server:
        assert status(server, None) == 401  # not open mode again
        assert (status(server, alice), status(server, bob)) == (200, 200)
    command(db, "backup", "create")  # both keys in it
    # The manual one (the first restore also kept the database it replaced, as a backup).
    [taken] = [info for info in list_backups(backups, db.stem) if info.kind is BackupKind.MANUAL]
    assert "revoked key" in command(db, "keys", "revoke", bob_id)

    printed = command(db, "backup", "restore", taken.name)

    assert f"keys: revoked, as in the live database: {bob_id} bob (user)" in printed
    with server:
        assert (status(server, None), status(server, alice), status(server, bob)) == (401, 200, 401)
    assert check_database(db).ok
