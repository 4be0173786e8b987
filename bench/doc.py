"""The latest results in docs/benchmarks.md: `make bench` writes its table between two
markers there, so the document always shows the last full run."""

from __future__ import annotations

from pathlib import Path

START = "<!-- latest results: written by `make bench` (python -m bench --doc); do not edit -->"
END = "<!-- end of latest results -->"


def latest_results(text: str) -> str:
    """The table between the markers of a document's text; raises `ValueError` without them."""
    _, start, rest = text.partition(START)
    table, end, _ = rest.partition(END)
    if not start or not end:
        raise ValueError(f"the markers {START!r} and {END!r} are missing")
    return table.strip()


def embed(document: Path, table: str) -> None:
    """Replace the results between the markers of `document` with `table`."""
    text = document.read_text()
    latest_results(text)  # both markers must be there before anything is written
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    document.write_text(f"{before}{START}\n\n{table.strip()}\n\n{END}{after}")
