"""torrentino against its peer: the seed's API on FastAPI + uvicorn (bench/peer/), side by side.

Both serve a copy of one database (the same tickets, the schema made by torrentino's
migrations) and get the same load from the same load generator, taking turns cell by cell
(who goes first alternates), each cell keeping its best round: a noisy neighbour only ever
makes a round slower, and hits both servers alike. Every route at 1, 4 and 16 keep-alive
connections and on fresh connections (a new TCP connection per request, 4 clients).

The peer runs in a virtualenv of its own (bench/peer/.venv), made here from
bench/peer/requirements.txt the first time and whenever that file changes.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import http_bench, loader, peer_floor
from bench.common import PROJECT_DIR, Table
from harness.server_process import Server

PEER_DIR = PROJECT_DIR / "bench" / "peer"
PEER_VENV = PEER_DIR / ".venv"
REQUIREMENTS = PEER_DIR / "requirements.txt"
LABELS = {
    **http_bench.LABELS,
    "health": "GET /health",
    "complete": "POST /tickets/{id}/complete",
    "fail": "POST /tickets/{id}/fail",
    "history": "GET /tickets/{id}/history",
    "audit": "GET /audit",
}
READS = ("get", "list", "history", "audit")
CHANGES = ("cancel", "complete", "fail")
# Each group runs on fresh copies of the database: a change route needs pending tickets
# of its own for every request of every run.
GROUPS = (("health", *READS, "create"), *((route,) for route in CHANGES))
ROUTES = tuple(route for group in GROUPS for route in group)
# (label, connections, a fresh connection per request)
SHAPES = (("1", 1, False), ("4", 4, False), ("16", 16, False), ("fresh", 4, True))
# Where the targets apply: under concurrency and on fresh connections.
TARGET_SHAPES = ("4", "16", "fresh")
ROUTE_TARGET = 1.2
READ_TARGET = 1.5


@dataclass
class Comparison:
    """What the comparison prints, each route's cells, and each route's best ratio within
    the design (`best_ratio`)."""

    tables: list[Table]
    cells: dict[str, dict[str, Cell]]
    best: dict[str, float]


@dataclass
class Cell:
    """One route at one shape: each server's best run (and, at one connection, each
    server's CPU time per request, the least of its rounds)."""

    ours: http_bench.Run
    peer: http_bench.Run
    ours_cpu: float = 0.0
    peer_cpu: float = 0.0

    @property
    def ratio(self) -> float:
        """torrentino's requests/s over the peer's."""
        return self.ours.rps / self.peer.rps


def target(route: str) -> float:
    """The ratio a route must reach at each of `TARGET_SHAPES`."""
    return READ_TARGET if route in READS else ROUTE_TARGET


def peer_python() -> Path:
    """The peer's interpreter, its virtualenv made (or brought up to date) first."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / "installed-requirements.txt"
    wanted = REQUIREMENTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(REQUIREMENTS)],
        check=True,
    )  # fmt: skip
    stamp.write_text(wanted)
    return python


def peer_server(db_path: Path, log_path: Path) -> Server:
    """The peer on a free port, as uvicorn serves it by default (one process)."""
    command = [str(peer_python()), "-m", "uvicorn", "--app-dir", str(PEER_DIR), "app:app"]
    return Server(
        db_path,
        command=[*command, "--host", "127.0.0.1"],
        env={"PEER_DB_PATH": str(db_path)},
        pass_db_path=False,
        log_path=log_path,
    )


def _ids(path: Path, pending_only: bool) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        where = " WHERE json_extract(state, '$.type') = 'pending'" if pending_only else ""
        return [r[0] for r in conn.execute(f"SELECT id FROM tickets{where} ORDER BY random()")]
    finally:
        conn.close()


def _copy(template: Path, path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)
    return path


@contextmanager
def _servers(workdir: Path, template: Path) -> Iterator[dict[str, Server]]:
    """torrentino and the peer, each on a fresh copy of `template`."""
    with ExitStack() as stack:
        ours = Server(_copy(template, workdir / "peer-ours.db"), log_path=workdir / "peer-ours.log")
        peer = peer_server(_copy(template, workdir / "peer-peer.db"), workdir / "peer-peer.log")
        yield {"ours": stack.enter_context(ours), "peer": stack.enter_context(peer)}


def _measure(
    server: Server, route: str, ids: list[str], ids_file: Path, shape: tuple[str, int, bool],
    *, seconds: float, use_wrk: bool,
) -> http_bench.Run:  # fmt: skip
    _, connections, fresh = shape
    if use_wrk:
        ids_file.write_text("\n".join(ids) + "\n")
        return http_bench.wrk_run(
            server.url, route, ids_file, connections=connections, seconds=seconds, fresh=fresh
        )
    return http_bench.python_run(
        server.port, route, ids, connections=connections, seconds=seconds, fresh=fresh
    )


def run(
    workdir: Path, *, tickets: int, seconds: float, rounds: int, use_wrk: bool | None = None,
    routes: tuple[str, ...] = ROUTES, floor_count: int = 200,
) -> Comparison:  # fmt: skip
    """Every route (of `routes`) at every shape on both servers, in turns, then the floor
    of the design (`bench.peer_floor`)."""
    if use_wrk is None:
        use_wrk = shutil.which("wrk") is not None
    peer_python()  # before any clock starts
    template = workdir / "peer-template.db"
    # Nearly all pending, so each change has a ticket of its own to change.
    loader.build(template, tickets, states={"pending": 9, "completed": 1}, histories=True)
    pending, every = _ids(template, pending_only=True), _ids(template, pending_only=False)
    runs = rounds * len(SHAPES) + 1  # and a warm-up
    cells: dict[str, dict[str, Cell]] = {}
    for group in GROUPS:
        chosen = [route for route in group if route in routes]
        if not chosen:
            continue
        with _servers(workdir, template) as servers:
            for route in chosen:
                slices = iter(pending[n::runs] for n in range(runs))
                ids = every if route in ("get", "history") else pending
                cells[route] = _route(
                    servers, route, ids, slices, workdir / "peer-ids.txt",
                    rounds=rounds, seconds=seconds, use_wrk=use_wrk,
                )  # fmt: skip
    floors = peer_floor.measure(template, workdir, pending, count=floor_count, rounds=rounds)
    paces = {
        threads: peer_floor.commit_pace(
            template,
            workdir,
            pending,
            threads=threads,
            count=max(1, floor_count * 4 // threads),
            rounds=rounds,
        )
        for threads in sorted(set(PACE_THREADS.values()))
    }
    tables = [_table(cells, tickets, seconds, rounds, use_wrk), _floor_table(cells, floors, paces)]
    best = {
        route: best_ratio(route, cells, floors[route], paces) for route in cells if route in floors
    }
    return Comparison(tables, cells, best)


# The threads at once of the commits' pace each target shape is bounded by (fresh: 4 clients).
PACE_THREADS = {"4": 4, "16": 16, "fresh": 4}


def _paced(route: str) -> str:
    return "create" if route == "create" else "cancel"  # complete and fail: cancel's SQL


def best_ratio(
    route: str,
    cells: dict[str, dict[str, Cell]],
    floor: peer_floor.Floor,
    paces: dict[int, dict[str, float]],
) -> float:
    """The highest ratio torrentino could reach against the peer within the design: the
    peer's CPU per request over the route's SQL on a new connection plus torrentino's own
    floor (its health route); for a change, also, at each target shape, the pace at which
    the statements alone commit with as many threads at once (`peer_floor.commit_pace`)
    over the peer's requests/s there: the lowest of those."""
    ours_floor = floor.cpu + cells["health"]["1"].ours_cpu
    bound = cells[route]["1"].peer_cpu / ours_floor if ours_floor else 0.0
    if route in ("create", *CHANGES):
        for shape, threads in PACE_THREADS.items():
            pace = paces.get(threads, {}).get(_paced(route))
            if pace and cells[route][shape].peer.rps:
                bound = min(bound, pace / cells[route][shape].peer.rps)
    return bound


def _floor_table(
    cells: dict[str, dict[str, Cell]],
    floors: dict[str, peer_floor.Floor],
    paces: dict[int, dict[str, float]],
) -> Table:
    table = Table(
        "HTTP: torrentino against the peer, CPU per request (1 connection) and the floor",
        [
            "route",
            "torrentino CPU us",
            "peer CPU us",
            "CPU ratio",
            "same SQL, new connection: CPU / wall us",
            "same SQL, commits/s with 4 / 16 at once",
            "best ratio within the design",
        ],
    )
    for route in (route for route in ROUTES if route in cells):
        cell = cells[route]["1"]
        ratio = f"{cell.peer_cpu / cell.ours_cpu:.2f}x" if cell.ours_cpu else "-"
        if route == "health":
            table.add(LABELS[route], cell.ours_cpu * 1e6, cell.peer_cpu * 1e6, ratio, "-", "-", "-")
            continue
        floor = floors[route]
        pace = "-"
        if route in ("create", *CHANGES):
            pace = " / ".join(f"{paces[n][_paced(route)]:,.0f}" for n in (4, 16) if n in paces)
        table.add(
            LABELS[route],
            cell.ours_cpu * 1e6,
            cell.peer_cpu * 1e6,
            ratio,
            f"{floor.cpu * 1e6:,.0f} / {floor.wall * 1e6:,.0f}",
            pace,
            f"{best_ratio(route, cells, floor, paces):.2f}x",
        )
    table.notes.append(
        "CPU: the server process's CPU time (every thread, SQLite's included) per request,"
        " at one keep-alive connection, the least of the rounds; on two cores shared with"
        " the load generator, requests/s under load follow it. 'same SQL, new connection':"
        " the route's statements on a new connection per request, opened as torrentino"
        " opens one, no HTTP and no domain code (bench/peer_floor.py): both servers pay it."
        " commits/s: the change's statements alone, each on a new connection, with 4 and 16"
        " threads at once taking turns on the writer queue as both servers do, each"
        " compiled (and a move's row read) before its turn (peer_floor.commit_pace): no"
        " server on this design commits faster in one process."
        " best ratio: the peer's CPU per request over that floor plus torrentino's health"
        " route (its server's own floor), and for a change also those commits/s over the"
        " peer's requests/s at 4, 16 and fresh (4 at once), the lowest of them. A target"
        " above it cannot be met within the design."
    )
    return table


def _route(
    servers: dict[str, Server], route: str, ids: list[str], slices: Iterator[list[str]],
    ids_file: Path, *, rounds: int, seconds: float, use_wrk: bool,
) -> dict[str, Cell]:  # fmt: skip
    """One route: a warm-up on each server, then each shape on both, in turns."""
    best: dict[str, dict[str, http_bench.Run]] = {"ours": {}, "peer": {}}
    warm = next(slices) if route in CHANGES else ids
    for server in servers.values():
        _measure(server, route, warm, ids_file, ("4", 4, False), seconds=min(1.0, seconds),
                 use_wrk=use_wrk)  # fmt: skip
    cpu: dict[str, float] = {}
    turn = 0
    for round_ in range(rounds):
        for shape in SHAPES if round_ % 2 == 0 else SHAPES[::-1]:
            # The same tickets for both servers: each has its own copy of them.
            cell_ids = next(slices) if route in CHANGES else ids
            order = ("ours", "peer") if turn % 2 == 0 else ("peer", "ours")
            turn += 1
            for name in order:
                started = cpu_seconds(servers[name])
                measured = _measure(servers[name], route, cell_ids, ids_file, shape,
                                    seconds=seconds, use_wrk=use_wrk)  # fmt: skip
                if shape[0] == "1" and measured.requests:
                    used = (cpu_seconds(servers[name]) - started) / measured.requests
                    cpu[name] = min(cpu.get(name, used), used)
                kept = best[name].get(shape[0])
                if kept is None or measured.rps > kept.rps:
                    best[name][shape[0]] = measured
    cells = {label: Cell(best["ours"][label], best["peer"][label]) for label, _, _ in SHAPES}
    cells["1"].ours_cpu, cells["1"].peer_cpu = cpu.get("ours", 0.0), cpu.get("peer", 0.0)
    return cells


def cpu_seconds(server: Server) -> float:
    """The CPU time the server process has used (user and system), from /proc."""
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cell_text(cell: Cell) -> str:
    failed = cell.ours.failures + cell.peer.failures
    text = f"{cell.ours.rps:,.0f} / {cell.peer.rps:,.0f} = {cell.ratio:.2f}x"
    return text + (f" [{failed} failed]" if failed else "")


def _table(
    cells: dict[str, dict[str, Cell]], tickets: int, seconds: float, rounds: int, use_wrk: bool
) -> Table:
    generator = "wrk 1 thread" if use_wrk else "Python fallback (wrk not installed)"
    table = Table(
        f"HTTP: torrentino against the peer (FastAPI + uvicorn), requests/s, {generator}",
        ["route", *(f"{label} (ours / peer)" for label, _, _ in SHAPES), "target", "lowest"],
    )
    for route in (route for route in ROUTES if route in cells):
        row = cells[route]
        if route == "health":
            table.add(LABELS[route], *(_cell_text(row[label]) for label, _, _ in SHAPES), "-", "-")
            continue
        lowest = min(row[label].ratio for label in TARGET_SHAPES)
        table.add(
            LABELS[route],
            *(_cell_text(row[label]) for label, _, _ in SHAPES),
            f">= {target(route):.1f}x",
            f"{lowest:.2f}x",
        )
    table.notes.append(
        f"Best of {rounds} {seconds:g} s runs per cell and server, the two servers taking turns,"
        f" each on its own copy of a {tickets:,}-ticket database; 'fresh' = a new TCP"
        " connection per request, 4 clients. ratio = torrentino's requests/s over the"
        " peer's. target: the lowest ratio at 4, 16 and fresh must reach it (reads 1.5x,"
        " every other route 1.2x); the health route is not a target (neither touches"
        " the database)."
    )
    return table


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.peer_bench`: the comparison alone, printed as a table."""
    import argparse  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m bench.peer_bench", description=__doc__)
    parser.add_argument("--tickets", type=int, default=60_000)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--routes", nargs="*", choices=ROUTES, help="default: every route")
    args = parser.parse_args(argv)
    # The health route is every other route's baseline in the floor table: always run it.
    routes = ("health", *(route for route in args.routes or ROUTES if route != "health"))
    with tempfile.TemporaryDirectory(prefix="torrentino-peer-") as workdir:
        compared = run(
            Path(workdir), tickets=args.tickets, seconds=args.seconds, rounds=args.rounds,
            routes=routes,
        )  # fmt: skip
    print("\n".join(table.render() for table in compared.tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
