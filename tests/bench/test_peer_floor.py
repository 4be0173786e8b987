"""The floor's commit pace (`peer_floor.commit_pace`) writes what torrentino writes: each
write it counts is a ticket created, or cancelled, with its event, as the store would
leave it (`make check-db` finds nothing wrong). Nothing here looks at speed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench import loader, peer_floor
from chalicelib.backups import check
from chalicelib.service import startup


def counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT json_extract(state, '$.type'), count(*) FROM tickets GROUP BY 1"
        ).fetchall()
        events = conn.execute("SELECT event_type, count(*) FROM audit_events GROUP BY 1").fetchall()
    finally:
        conn.close()
    return {**dict(rows), **dict(events)}


def test_every_write_the_pace_counts_is_a_whole_write(tmp_path: Path) -> None:
    template = tmp_path / "template.db"
    loader.build(template, 200, states={"pending": 1})
    startup.ensure_started(template)
    before = counts(template)
    conn = sqlite3.connect(template)
    pending = [row[0] for row in conn.execute("SELECT id FROM tickets")]
    conn.close()

    paces = peer_floor.commit_pace(template, tmp_path, pending, threads=3, count=4, rounds=2)

    assert set(paces) == {"create", "cancel"} and all(pace > 0 for pace in paces.values())
    after = counts(tmp_path / "peer-pace.db")
    writes = 3 * 4 * 2  # threads, writes each, rounds: of each kind
    # As many created (pending) as cancelled (of the template's pending tickets).
    assert after["pending"] == before["pending"]
    assert after["cancelled"] == writes
    assert after["ticket_created"] == before["ticket_created"] + writes
    assert after["ticket_cancelled"] == writes
    assert check.check_database(tmp_path / "peer-pace.db").problems == []
