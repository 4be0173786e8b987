"""The notification targets' command line (`make notify`): add (a webhook's secret printed
once), list (masked), test against a real receiver, deliveries, resume, remove, deliver."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.cli import main
from tests.receivers import receiver


def run(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> tuple[int, str, str]:
    status = main(["--db", str(db), "notify", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_command_line_adds_lists_tests_and_removes_targets(
    db_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORRENTINO_NOTIFY_ALLOW_LOOPBACK", "1")
    with receiver() as hook:
        status, added, _ = run(
            capsys, db_path, "add", f"{hook.url}/secretpath", "--kind", "webhook"
        )
        assert status == 0
        target_id = added.split()[3].rstrip(":")
        secret = added.splitlines()[-1]
        assert secret.startswith("whsec_") and "secretpath" not in added
        status, listed, _ = run(capsys, db_path, "list")
        assert target_id in listed and secret not in listed and "secretpath" not in listed
        status, tested, _ = run(capsys, db_path, "test", target_id)
        assert tested.strip() == "test delivered"
        [got] = hook.wait_for(1)
        assert got.verify(secret)["event_type"] == "notification_test"
        run(capsys, db_path, "add", "ntfy://ntfy.example.com/bob", "--for", "bob")
        assert "bob" in run(capsys, db_path, "list")[1]
        status, delivered, _ = run(capsys, db_path, "deliver")
        assert status == 0 and "'delivered': 1" in delivered  # the ntfy target's creation
        hook.wait_for(2)
    status, record, _ = run(capsys, db_path, "deliveries", target_id)
    assert "event test  delivered" in record and "delivered  1 attempts" in record
    assert run(capsys, db_path, "resume", target_id)[1].strip() == f"{target_id} is active"
    status, removed, _ = run(capsys, db_path, "remove", target_id)
    assert status == 0 and target_id in removed
    status, _, error = run(capsys, db_path, "remove", target_id)
    assert status == 1 and "no notification target" in error
    status, _, error = run(capsys, db_path, "add", "nosuchservice://x")
    assert status == 1 and "Apprise does not know" in error
