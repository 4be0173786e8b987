"""Backups: time and size at 10k, 100k and 1M tickets, and what a running backup costs the
requests served meanwhile.

Each size is a bulk-loaded database with whole histories (most tickets completed,
cancelled or failed, with the events that moved them), so the consistency check that
verifies every backup reads what it would after years of use. Per size:
`python -m chalicelib.backup create` in a process of its own, as `make backup` or cron
runs it (wall time, peak RSS); `VACUUM INTO` alone (the snapshot, the only part that
reads the live database); `verify` of the new backup; and a restore into a new path.

Load: the real server on the middle size, 4 keep-alive clients on one route for a fixed
time, three ways: no backup; the server's own backups (POST /api/v1/backups back to
back, in the server process, as its scheduler takes them); and backups by another
process (the command line, back to back).
"""

from __future__ import annotations

import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from bench import loader, loadgen
from bench.common import PROJECT_DIR, Table
from chalicelib.backups.files import list_backups
from chalicelib.backups.restore import restore_backup, verify_backup
from harness.server_process import Server

# The command line in a child process that reports its own peak RSS when it is done:
# VmHWM, not ru_maxrss, which on Linux also counts the parent's memory before the exec.
MEASURED_CREATE = """
import runpy, sys
sys.argv = ["python -m chalicelib.backup", *sys.argv[1:]]
try:
    runpy.run_module("chalicelib.backup", run_name="__main__")
except SystemExit as done:
    if done.code:
        raise
status = open("/proc/self/status").read()
print("PEAK_KIB", status.split("VmHWM:")[1].split()[0])
"""
MODES = {
    "none": "no backup",
    "server": "server's own backups",
    "cli": "backups by another process",
}
ROUTES = {"get": "GET /tickets/{id}", "create": "POST /tickets"}


def _mib(path: Path) -> float:
    return path.stat().st_size / 2**20


def _cli(db: Path, backups: Path, command: str) -> list[str]:
    return ["--db", str(db), "--backup-dir", str(backups), command]


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _vacuum_into(db: Path, target: Path) -> None:
    conn = sqlite3.connect(f"{db.absolute().as_uri()}?mode=ro", uri=True)
    try:
        conn.execute("VACUUM INTO ?", (str(target),))
    finally:
        conn.close()
    target.unlink()


def _size_row(workdir: Path, size: int) -> list[object]:
    db, backups = workdir / f"backup-{size}.db", workdir / f"backups-{size}"
    restored = workdir / f"restored-{size}" / "torrentino.db"
    loader.build(db, size, histories=True)
    try:
        vacuum = _timed(lambda: _vacuum_into(db, workdir / "vacuum-into.db"))
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", MEASURED_CREATE, *_cli(db, backups, "create")],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
            timeout=3600,
        )
        create = time.perf_counter() - started
        peak_kib = int(out.stdout.split("PEAK_KIB")[1])
        [info] = list_backups(backups, db.stem)
        backup = backups / info.name
        problems: list[str] = []
        verify = _timed(lambda: problems.extend(verify_backup(backup).problems))
        assert not problems, problems  # a bench on a backup that does not verify is void
        restore = _timed(lambda: restore_backup(backup, restored, actor="bench"))
        return [size, _mib(db), _mib(backup), create, vacuum, verify, restore, peak_kib / 1024]
    finally:
        db.unlink(missing_ok=True)
        shutil.rmtree(backups, ignore_errors=True)
        shutil.rmtree(restored.parent, ignore_errors=True)


@contextmanager
def _backups_running(mode: str, server: Server, backups: Path) -> Iterator[list[int]]:
    """Take backups back to back, `mode`'s way, until the block ends; yields the count."""
    done = [0]
    stop = threading.Event()

    def one_backup() -> None:
        if mode == "server":
            response = requests.post(f"{server.url}/api/v1/backups", timeout=3600)
            assert response.status_code == 201, response.text
        else:
            command = _cli(server.db_path, backups, "create")
            subprocess.run(
                [sys.executable, "-m", "chalicelib.backup", *command],
                cwd=PROJECT_DIR,
                capture_output=True,
                check=True,
                timeout=3600,
            )
        done[0] += 1

    def loop() -> None:
        while not stop.is_set():
            one_backup()

    thread = threading.Thread(target=loop, daemon=True) if mode != "none" else None
    if thread is not None:
        thread.start()
        # Measure from the moment a snapshot is being written, not from a process start.
        while not done[0] and not any(backups.glob(".*.tmp")):
            time.sleep(0.01)
    try:
        yield done
    finally:
        stop.set()
        if thread is not None:
            thread.join()


def _load_table(workdir: Path, *, tickets: int, seconds: float, passes: int) -> Table:
    db, backups = workdir / "backup-load.db", workdir / "backup-load-backups"
    loader.build(db, tickets, states={"pending": 8, "completed": 2}, histories=True)
    conn = sqlite3.connect(db)
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM tickets ORDER BY random() LIMIT 5000")]
    finally:
        conn.close()
    table = Table(
        f"Backup: requests/s (p50 / p99 ms) while backups run, {tickets:,} tickets",
        ["route", *MODES.values()],
    )
    counts = dict.fromkeys(MODES, 0)
    runs: dict[tuple[str, str], list[loadgen.Result]] = {}
    env = {"TORRENTINO_BACKUP_DIR": str(backups)}
    with Server(db, env=env, log_path=workdir / "backup-server.log") as server:
        # The modes in alternating orders, so a noisy neighbour hits each of them alike.
        for number in range(passes):
            for route in ROUTES:
                for mode in list(MODES)[:: 1 if number % 2 == 0 else -1]:
                    with _backups_running(mode, server, backups) as done:
                        result = loadgen.run(
                            server.port, route, ids, connections=4, seconds=seconds, fresh=False
                        )
                    counts[mode] += done[0]
                    runs.setdefault((route, mode), []).append(result)
    for route, label in ROUTES.items():
        table.add(label, *(_cell(runs[route, mode]) for mode in MODES))
    table.notes.append(
        f"4 keep-alive clients (bench/loadgen.py) for {seconds:g} s per run, from the moment"
        f" a snapshot is being written; the median of {passes} runs per cell. Backups back to"
        f" back meanwhile ({counts['server']} by the server, {counts['cli']} by the command"
        " line in all). The server's own backups run in its process and share its"
        " interpreter lock; the command line's share only the CPU and the disk."
    )
    return table


def _cell(results: list[loadgen.Result]) -> str:
    """Requests per second (p50 / p99 ms), each the median over the runs."""
    rps = statistics.median(r.requests / r.seconds for r in results)
    p50 = statistics.median(r.p50_us for r in results) / 1000
    p99 = statistics.median(r.p99_us for r in results) / 1000
    failed = sum(r.socket_errors + r.bad_status for r in results)
    return f"{rps:,.0f} ({p50:.1f} / {p99:.1f})" + (f" [{failed} failed]" if failed else "")


def run(
    workdir: Path, *, sizes: list[int], load_tickets: int, seconds: float, passes: int
) -> list[Table]:
    """The size table and the load table."""
    sizes_table = Table(
        "Backup: time and size by database size",
        [
            "tickets",
            "database MiB",
            "backup MiB",
            "create s (own process)",
            "VACUUM INTO alone s",
            "verify s",
            "restore s",
            "create peak RSS MiB",
        ],
    )
    for size in sizes:
        sizes_table.add(*_size_row(workdir, size))
    sizes_table.notes.append(
        "create = snapshot (VACUUM INTO) + consistency check + SHA-256 + fsync + manifest,"
        " as `make backup` runs it, Python start-up included. verify re-reads the backup"
        " (SHA-256 and the check); restore copies, checks and swaps it in. Databases are"
        " bulk-loaded with whole histories (70% completed, 15% cancelled, 5% failed)."
    )
    load = _load_table(workdir, tickets=load_tickets, seconds=seconds, passes=passes)
    return [sizes_table, load]
