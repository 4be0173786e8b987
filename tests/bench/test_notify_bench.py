"""The notifications benchmark in a tiny configuration: it really creates on both databases,
and a create writes the same rows with ten targets as with none (no timings checked)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench import notify_bench


def test_a_create_writes_the_same_rows_with_ten_targets_as_with_none(tmp_path: Path) -> None:
    table = notify_bench.run(tmp_path, tickets=100, count=4, rounds=2)
    assert [row[0] for row in table.rows] == ["0", str(notify_bench.TARGETS)]
    assert len({row[2] for row in table.rows}) == 1
    for targets in (0, notify_bench.TARGETS):
        conn = sqlite3.connect(tmp_path / f"notify-{targets}.db")
        try:
            made, tickets = conn.execute(
                "SELECT (SELECT count(*) FROM notification_targets), (SELECT count(*) FROM tickets)"
            ).fetchone()
        finally:
            conn.close()
        assert made == targets and tickets == 100 + 8
