"""`python -m chalicelib.cli`, the one home of the command lines, and the older names
(`python -m chalicelib.keys`, `chalicelib.backup`, `chalicelib.check`) that reach it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_tool_runs_from_the_one_command_line(db_path: Path, tmp_path: Path) -> None:
    created = run(
        "chalicelib.cli", "--db", str(db_path), "keys", "create", "alice", "--role", "admin"
    )
    assert created.returncode == 0, created.stderr
    assert "created key" in created.stdout and "for alice (admin)" in created.stdout
    listed = run("chalicelib.cli", "--db", str(db_path), "keys", "list")
    assert "alice" in listed.stdout and "active" in listed.stdout
    backups = tmp_path / "backups"
    taken = run(
        "chalicelib.cli", "--db", str(db_path), "backup", "--backup-dir", str(backups), "create"
    )
    assert taken.returncode == 0, taken.stderr
    assert "verified" in taken.stdout
    checked = run("chalicelib.cli", "check", str(db_path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith(f"{db_path}: ok")


def test_the_older_names_still_work_with_db_anywhere(db_path: Path) -> None:
    created = run("chalicelib.keys", "create", "bob", "--db", str(db_path))
    assert created.returncode == 0, created.stderr
    assert "for bob (user)" in created.stdout
    assert "bob" in run("chalicelib.keys", "--db", str(db_path), "list").stdout
    assert run("chalicelib.check", str(db_path)).stdout.startswith(f"{db_path}: ok")


def test_a_refused_command_says_why_and_exits_1(db_path: Path) -> None:
    refused = run("chalicelib.cli", "--db", str(db_path), "keys", "create", "system")
    assert refused.returncode == 1
    assert refused.stderr == "error: 'system' is a reserved name\n"
    assert run("chalicelib.cli", "keys").returncode == 2  # argparse: a command is required
