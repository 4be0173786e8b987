"""The benchmark suite, once in its tiny configuration, so it cannot rot (no timings checked)."""

from __future__ import annotations

import contextlib
import io
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench import peer_bench
from bench.__main__ import SMOKE, main


@dataclass(frozen=True)
class SmokeRun:
    printed: str
    written: str
    workdir: Path


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    root = tmp_path_factory.mktemp("bench")
    out = root / "result.md"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(["--smoke", "--workdir", str(root / "work"), "--out", str(out)])
    assert status == 0
    return SmokeRun(printed.getvalue(), out.read_text(), root / "work")


def test_the_smoke_configuration_prints_every_section(smoke: SmokeRun) -> None:
    for section in (
        "Machine",
        "Store:",
        "HTTP:",
        "Scale:",
        "Query plans",
        "Memory:",
        "Backup: time and size",
        "Backup: requests/s",
        "Targets",
    ):
        assert f"### {section}" in smoke.printed
    assert "### Browser: navigation to the first 50 tickets shown" in smoke.printed
    assert "Rows on screen at the mark: 50 " in smoke.printed
    for operation in ("create", "cancel", "GET /health (floor)", "deep page, after= cursor"):
        assert operation in smoke.printed
    assert "### Store: where a create's time goes" in smoke.printed
    for way in ("long-lived connection", "new connection per create", "shared-cache"):
        assert way in smoke.printed
    for section in ("Lambda: the package and a cold start", "Pages written per write"):
        assert f"### {section}" in smoke.printed
    assert "### Writes per second on local disk: WAL against a rollback journal" in smoke.printed
    assert smoke.written in smoke.printed


def test_the_phase_breakdown_really_creates_on_each_kind_of_connection(smoke: SmokeRun) -> None:
    phases = SMOKE["phases"]
    created = phases["count"] * phases["rounds"]
    for kind in ("long", "fresh", "shared"):
        conn = sqlite3.connect(smoke.workdir / f"phases-{kind}.db")
        try:
            tickets, events = conn.execute(
                "SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM audit_events)"
            ).fetchone()
        finally:
            conn.close()
        assert tickets == phases["tickets"] + created, kind
        assert events >= created, kind


def test_the_backup_bench_really_backs_up_both_ways_under_load(smoke: SmokeRun) -> None:
    conn = sqlite3.connect(smoke.workdir / "backup-load.db")
    try:
        actors = {
            row[0]
            for row in conn.execute(
                "SELECT actor FROM audit_events WHERE event_type = 'backup_created'"
            )
        }
    finally:
        conn.close()
    assert actors == {"anonymous", "admin-cli"}  # POST /api/v1/backups, and the command line
    for size in SMOKE["backup"]["sizes"]:
        assert f"| {size:,} " in smoke.printed


def test_the_peer_comparison_runs_every_route_on_both_servers(smoke: SmokeRun) -> None:
    section = smoke.printed.split("### HTTP: torrentino against the peer", 1)[1].split("###")[0]
    for route in peer_bench.ROUTES:
        row = next(
            line for line in section.splitlines() if f"| {peer_bench.LABELS[route]} " in line
        )
        cells = [cell.strip() for cell in row.strip(" |").split("|")][1:]
        assert len(cells) == len(peer_bench.SHAPES) + 2, row
        # Both servers answered every request 2xx: each change really changed a ticket.
        assert "failed" not in row, row
    # The last group (fail) ran on both servers' own copies of the database.
    for name in ("ours", "peer"):
        conn = sqlite3.connect(smoke.workdir / f"peer-{name}.db")
        try:
            failed = conn.execute("SELECT tickets FROM ticket_counts WHERE state = 'failed'")
            assert failed.fetchone()[0] > 0, name
        finally:
            conn.close()


def test_the_targets_are_the_goals_of_the_project(smoke: SmokeRun) -> None:
    targets = smoke.printed.split("### Targets", 1)[1]
    for route in peer_bench.ROUTES[1:]:
        wanted = peer_bench.target(route)
        assert f"{peer_bench.LABELS[route]}: >= {wanted:.1f}x the peer" in targets
    assert "store get within 1.1x of the same SQL on a new connection" in targets
    assert "store list (pending, 50) within 1.5x of the same SQL" in targets
    # Retired: the store against a long-lived connection, routes against the health route.
    assert "of plain sqlite3" not in targets
    assert "of the floor" not in targets


def test_the_floor_of_the_design_is_measured_on_a_real_database(smoke: SmokeRun) -> None:
    section = smoke.printed.split("### HTTP: torrentino against the peer, CPU per request", 1)[1]
    section = section.split("###")[0]
    for route in peer_bench.ROUTES:
        assert f"| {peer_bench.LABELS[route]} " in section
    # Every change's statements really ran, each on a connection of its own, and committed.
    peer = SMOKE["peer"]
    before, after = (
        ticket_counts(smoke.workdir / f"peer-{name}.db") for name in ("template", "floor")
    )
    changes = len(peer_bench.CHANGES) * peer["floor_count"] * peer["rounds"]
    created = peer["floor_count"] * peer["rounds"]
    assert after["cancelled"] == changes
    assert after["pending"] == before["pending"] - changes + created
    assert "best within the design" in smoke.printed.split("### Targets", 1)[1]


def ticket_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT state, tickets FROM ticket_counts").fetchall())
    finally:
        conn.close()
