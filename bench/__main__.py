"""`python -m bench`: run every benchmark and print one table (`make bench`).

`--smoke` runs everything once in a tiny configuration (seconds), for `make test`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import (
    backup_bench,
    browser_bench,
    connection_bench,
    deploy_bench,
    doc,
    http_bench,
    notify_bench,
    peer_bench,
    scale_bench,
    store_bench,
)
from bench.common import Table, machine

FULL: dict[str, dict[str, Any]] = {
    "store": {"tickets": 10_000, "count": 200, "rounds": 7},
    "phases": {"tickets": 10_000, "count": 200, "rounds": 7},
    "notify": {"tickets": 10_000, "count": 200, "rounds": 7},
    "http": {"tickets": 40_000, "seconds": 2.0, "use_wrk": None},
    "peer": {"tickets": 60_000, "seconds": 2.0, "rounds": 5, "use_wrk": None, "floor_count": 200},
    "scale": {"sizes": [10_000, 100_000, 1_000_000], "ops": 200, "rounds": 5},
    "browser": {"tickets": 10_000, "rounds": 7},
    "deploy": {"tickets": 10_000, "count": 100, "rounds": 5, "cold_starts": 5},
    "backup": {
        "sizes": [10_000, 100_000, 1_000_000],
        "load_tickets": 100_000,
        "seconds": 5.0,
        "passes": 3,
    },
}
SMOKE: dict[str, dict[str, Any]] = {
    "store": {"tickets": 200, "count": 10, "rounds": 1},
    "phases": {"tickets": 200, "count": 5, "rounds": 1},
    "notify": {"tickets": 200, "count": 5, "rounds": 1},
    "http": {"tickets": 300, "seconds": 0.1, "use_wrk": False},
    "peer": {"tickets": 2_000, "seconds": 0.1, "rounds": 1, "use_wrk": False, "floor_count": 3},
    "scale": {"sizes": [100, 1_000], "ops": 6, "rounds": 1},
    "browser": {"tickets": 1_000, "rounds": 1},
    "deploy": {"tickets": 200, "count": 3, "rounds": 1, "cold_starts": 1},
    "backup": {"sizes": [200, 500], "load_tickets": 300, "seconds": 0.3, "passes": 1},
}
MEMORY_LIMIT_MB = 100
# How much dearer than a cancel an edit may measure and still count as the same cost.
EDIT_NOISE = 0.10


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def targets(
    store: Table,
    http: dict[str, dict[str, http_bench.Run]],
    peer: peer_bench.Comparison,
    scale: Table,
    *,
    memory: list[float],
    notify: Table,
) -> Table:
    """Every target of the project, computed from this run's numbers."""
    table = Table("Targets", ["target", "measured", ""])
    for route, cells in peer.cells.items():
        if route == "health":
            continue
        wanted = peer_bench.target(route)
        lowest = min(peer_bench.TARGET_SHAPES, key=lambda shape: cells[shape].ratio)
        ratio = cells[lowest].ratio
        table.add(
            f"{peer_bench.LABELS[route]}: >= {wanted:.1f}x the peer at 4, 16 and fresh",
            f"{ratio:.2f}x ({lowest}; best within the design {peer.best[route]:.2f}x)",
            _verdict(ratio >= wanted),
        )
    column = store.columns.index("vs same SQL")
    ratios = {row[0]: float(row[column].rstrip("x")) for row in store.rows if row[column] != "-"}
    for name, limit in store_bench.READ_TARGETS.items():
        table.add(
            f"store {name} within {limit}x of the same SQL on a new connection",
            f"{ratios[name]:.2f}x",
            _verdict(ratios[name] <= limit),
        )
    # An edit is one more change of a pending ticket: it may cost what a cancel does.
    per_second = {row[0]: float(row[1].replace(",", "")) for row in store.rows}
    edit_cost = per_second["cancel"] / per_second["edit"]
    table.add(
        f"store edit costs no more than cancel (within {EDIT_NOISE:.0%})",
        f"{edit_cost:.2f}x",
        _verdict(edit_cost <= 1 + EDIT_NOISE),
    )
    best = {route: max(r.rps for r in runs.values()) for route, runs in http.items()}
    edit_cost = best["cancel"] / best["edit"]
    table.add(
        f"{http_bench.LABELS['edit']} costs no more than {http_bench.LABELS['cancel']}"
        f" (within {EDIT_NOISE:.0%})",
        f"{edit_cost:.2f}x",
        _verdict(edit_cost <= 1 + EDIT_NOISE),
    )
    for route, runs in http.items():
        if route == "health":
            continue
        ratio = runs["1"].rps / runs["fresh x1"].rps
        table.add(
            f"{http_bench.LABELS[route]}: 1 keep-alive >= fresh",
            f"{ratio:.2f}x",
            _verdict(ratio >= 1.0),
        )
    growth = {row[0]: float(row[-1].rstrip("x")) for row in scale.rows}
    for name in ("get", "create", "list pending, first page + total"):
        table.add(
            f"scale: {name} within 2x from smallest to largest",
            f"{growth[name]:.2f}x",
            _verdict(growth[name] <= 2.0),
        )
    rows = [row[2] for row in notify.rows]
    table.add(
        f"notifications: a create writes the same with {notify_bench.TARGETS} targets as none",
        " / ".join(rows),
        _verdict(len(set(rows)) == 1),
    )
    table.add(
        f"server peak RSS under {MEMORY_LIMIT_MB} MiB (scale run, load run)",
        " / ".join(f"{m:.0f} MiB" for m in memory),
        _verdict(max(memory) < MEMORY_LIMIT_MB),
    )
    return table


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny configuration, for tests")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--doc", type=Path, help="also put the table between the markers of this document"
    )
    parser.add_argument("--workdir", type=Path, help="where the databases go (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.doc:
        doc.latest_results(args.doc.read_text())  # fail now, not after the run
    config = SMOKE if args.smoke else FULL
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="torrentino-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sections = [machine()]
    try:
        print("store ...", file=sys.stderr)
        store = store_bench.run(workdir, **config["store"])
        phases = connection_bench.run(workdir, **config["phases"])
        notify = notify_bench.run(workdir, **config["notify"])
        print("http ...", file=sys.stderr)
        http_table, http_runs, load_memory = http_bench.run(workdir, **config["http"])
        print("peer ...", file=sys.stderr)
        peer = peer_bench.run(workdir, **config["peer"])
        print("scale ...", file=sys.stderr)
        scale, plans, scale_memory, _ = scale_bench.run(workdir, **config["scale"])
        print("browser ...", file=sys.stderr)
        browser = browser_bench.run(workdir, **config["browser"])
        print("deploy ...", file=sys.stderr)
        deploy = deploy_bench.run(workdir / "deploy", **config["deploy"])
        print("backup ...", file=sys.stderr)
        backups = backup_bench.run(workdir, **config["backup"])
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    memory = Table("Memory: server peak RSS (VmHWM)", ["after", "RSS MiB", "peak MiB"])
    memory.add(
        f"scale run on {config['scale']['sizes'][-1]:,} tickets", scale_memory[0], scale_memory[1]
    )
    memory.add("HTTP load run", load_memory[0], load_memory[1])
    sections += [
        store,
        phases,
        notify,
        http_table,
        *peer.tables,
        scale,
        plans,
        memory,
        browser,
        *deploy,
        *backups,
    ]
    sections.append(
        targets(
            store, http_runs, peer, scale, memory=[scale_memory[1], load_memory[1]], notify=notify
        )
    )
    text = "\n".join(section.render() for section in sections)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    if args.doc:
        doc.embed(args.doc, text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
