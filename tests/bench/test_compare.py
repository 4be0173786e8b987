"""`python -m bench.compare`: its worktrees and its table (the full run takes minutes, so
`make test` checks the parts; the timings are never checked)."""

from __future__ import annotations

import subprocess

from bench.common import PROJECT_DIR
from bench.compare import Result, best, checked_out, compare


def worktrees() -> set[str]:
    listed = subprocess.run(
        ["git", "worktree", "list", "--porcelain"],
        cwd=PROJECT_DIR, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {
        line.split(" ", 1)[1] for line in listed.stdout.splitlines() if line.startswith("worktree ")
    }


def test_a_commit_is_checked_out_beside_the_work_tree_and_removed_after() -> None:
    before = worktrees()
    with checked_out("HEAD") as tree:
        assert (tree / "bench" / "http_bench.py").is_file()
        assert str(tree) in worktrees()
    assert worktrees() == before
    with checked_out("WORKTREE") as tree:
        assert tree == PROJECT_DIR


def test_each_cell_keeps_its_best_round_and_the_ratio_is_after_over_before() -> None:
    rounds: list[Result] = [{"get": {"1": 100.0, "4": 300.0}}, {"get": {"1": 120.0, "4": 250.0}}]
    after: Result = {"get": {"1": 60.0, "4": 330.0}}
    table = compare(best(rounds), after, ("old", "new"))
    assert table.rows == [["get", "1", "120", "60", "0.50"], ["get", "4", "300", "330", "1.10"]]
