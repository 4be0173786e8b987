"""`python -m bench.compare REV [REV2]`: the HTTP benchmark of two commits, side by side.

Each commit is checked out into a temporary git worktree and served by its own launcher
(`launcher/local_server.py`); the two take turns, round after round, so a noisy neighbour
slows both alike, and each cell keeps its best round. REV2 defaults to the work tree
itself. This is how a change that should not cost anything (a refactor) is shown to cost
nothing: every ratio near 1.00.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import PROJECT_DIR, Table

# Run inside the tree being measured, so its own bench/, launcher and chalicelib/ are used.
_MEASURE = """
import json, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from bench import http_bench
with tempfile.TemporaryDirectory() as workdir:
    _, runs, _ = http_bench.run(Path(workdir), tickets=int(sys.argv[2]), seconds=float(sys.argv[3]))
print(json.dumps({r: {s: run.rps for s, run in shapes.items()} for r, shapes in runs.items()}))
"""

Result = dict[str, dict[str, float]]


@contextmanager
def checked_out(revision: str) -> Iterator[Path]:
    """A temporary worktree of `revision` (the work tree itself for "WORKTREE")."""
    if revision == "WORKTREE":
        yield PROJECT_DIR
        return
    with tempfile.TemporaryDirectory() as parent:
        tree = Path(parent) / "tree"
        git = ["git", "-C", str(PROJECT_DIR)]
        subprocess.run([*git, "worktree", "add", "--detach", str(tree), revision], check=True)
        try:
            yield tree
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=False)


def measure(tree: Path, tickets: int, seconds: float) -> Result:
    """One run of the HTTP benchmark in `tree`: requests/s by route and shape."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tree), str(tickets), str(seconds)],
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    )
    result: Result = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def best(results: list[Result]) -> Result:
    """Each cell's best round: a neighbour only ever makes a round slower."""
    return {
        route: {shape: max(r[route][shape] for r in results) for shape in results[0][route]}
        for route in results[0]
    }


def compare(before: Result, after: Result, names: tuple[str, str]) -> Table:
    """The two commits' requests/s and their ratio, cell by cell."""
    table = Table(
        f"HTTP requests/s: {names[0]} against {names[1]} (best of each cell's rounds)",
        ["route", "connections", names[0], names[1], "ratio"],
    )
    for route, shapes in before.items():
        for shape, rps in shapes.items():
            table.add(route, shape, f"{rps:.0f}", f"{after[route][shape]:.0f}",
                      f"{after[route][shape] / rps:.2f}")  # fmt: skip
    return table


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print its table."""
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("before", help="a commit, branch or tag")
    parser.add_argument("after", nargs="?", default="WORKTREE", help="default: the work tree")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tickets", type=int, default=40_000)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    runs: dict[str, list[Result]] = {args.before: [], args.after: []}
    with checked_out(args.before) as before_tree, checked_out(args.after) as after_tree:
        for _ in range(args.rounds):
            for name, tree in ((args.before, before_tree), (args.after, after_tree)):
                print(f"{name} ...", file=sys.stderr)
                runs[name].append(measure(tree, args.tickets, args.seconds))
    print(
        compare(best(runs[args.before]), best(runs[args.after]), (args.before, args.after)).render()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
