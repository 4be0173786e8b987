"""docs/benchmarks.md shows the latest full run: `make bench` writes it between markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import main
from bench.doc import END, START, embed, latest_results

PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_the_benchmarks_doc_shows_the_latest_results() -> None:
    shown = latest_results((PROJECT_DIR / "docs" / "benchmarks.md").read_text())
    assert shown == (PROJECT_DIR / "bench" / "results" / "latest.md").read_text().strip()
    assert "### Targets" in shown


def test_embedding_replaces_only_what_is_between_the_markers(tmp_path: Path) -> None:
    document = tmp_path / "doc.md"
    document.write_text(f"# Title\n\nbefore\n{START}\nold table\n{END}\nafter\n")
    embed(document, "### New\n\n| a |\n")
    embed(document, "### Newer\n\n| b |\n")
    assert (
        document.read_text()
        == f"# Title\n\nbefore\n{START}\n\n### Newer\n\n| b |\n\n{END}\nafter\n"
    )
    assert latest_results(document.read_text()) == "### Newer\n\n| b |"


def test_a_document_without_the_markers_is_left_alone(tmp_path: Path) -> None:
    document = tmp_path / "doc.md"
    document.write_text(f"# Title\n{START}\nno end marker\n")
    with pytest.raises(ValueError, match="markers"):
        embed(document, "### New\n")
    assert document.read_text() == f"# Title\n{START}\nno end marker\n"


def test_the_benchmark_refuses_such_a_document_before_it_runs(tmp_path: Path) -> None:
    document = tmp_path / "doc.md"
    document.write_text("# No markers\n")
    with pytest.raises(ValueError, match="markers"):
        main(["--smoke", "--workdir", str(tmp_path / "work"), "--doc", str(document)])
    assert not (tmp_path / "work").exists()
