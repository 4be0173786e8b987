"""Timing, the result table and the machine description shared by every benchmark."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass
class Table:
    """One section of the printed result: a title, column names and rows."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([cell if isinstance(cell, str) else fmt(cell) for cell in cells])

    def render(self) -> str:
        """The section as a Markdown table, as docs/benchmarks.md shows it."""
        widths = [
            max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c)
            for i, c in enumerate(self.columns)
        ]
        lines = [f"### {self.title}", ""]
        lines.append(
            "| " + " | ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True)) + " |"
        )
        lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in self.rows:
            lines.append(
                "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
            )
        lines.extend(["", *self.notes] if self.notes else [])
        return "\n".join(lines) + "\n"


def fmt(value: object) -> str:
    """A number with sensible precision for a table."""
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def per_op_seconds(run: Callable[[int], None], count: int, rounds: int) -> float:
    """Median over `rounds` of the time per operation of `run(count)`."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        run(count)
        samples.append((time.perf_counter() - start) / count)
    return statistics.median(samples)


def machine() -> Table:
    """Where the numbers came from."""
    table = Table("Machine", ["", ""])
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    table.add("CPU", f"{cpu}, {os.cpu_count()} cores (nproc)")
    table.add("OS", f"{platform.system()} {platform.release()}")
    table.add("Python", platform.python_version())
    table.add("SQLite", sqlite3.sqlite_version)
    table.add("date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    return table
