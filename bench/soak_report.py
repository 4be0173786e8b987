"""The soak's tables: per window of time, what the slow clients got, and the targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.common import Table
from bench.slow_clients import KINDS
from launcher.connection_limits import SPARE_THREADS

if TYPE_CHECKING:
    from bench.soak import SoakResult

WINDOW_COLUMNS = ["window", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms", "not 2xx", "5xx"]
WINDOW_COLUMNS += ["RSS MiB (max)", "threads (max)", "fds (max)"]
# "Flat": from the second window (the first warms up) to the last, the peak RSS grows
# less than this, and the peak descriptors by at most a few connections' worth.
RSS_GROWTH_MIB = 10
FD_GROWTH = 16


@dataclass
class Sample:
    """The server's resources at one moment (seconds into the run)."""

    at: float
    rss_mib: float
    threads: int
    fds: int


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _windows(result: SoakResult) -> list[tuple[float, float]]:
    """Minutes, or thirds of a run shorter than three minutes."""
    width = 60.0 if result.seconds >= 180 else result.seconds / 3
    count = max(1, round(result.seconds / width))
    return [(n * width, (n + 1) * width if n < count - 1 else float("inf")) for n in range(count)]


def _window_rows(result: SoakResult) -> list[tuple[str, list[object], Sample | None]]:
    rows = []
    for start, end in _windows(result):
        requests_ = [r for r in result.ledger.answered if start <= r[0] < end]
        samples = [s for s in result.samples if start <= s.at < end]
        ms = sorted(r[3] * 1000 for r in requests_)
        expected = {"create": 201, "get": 200, "list": 200, "cancel": 200}
        others = sum(1 for _, op, status, _ in requests_ if status != expected[op])
        fives = sum(1 for r in requests_ if r[2] >= 500)
        stats: list[object] = (
            [len(ms), *(_percentile(ms, f) for f in (0.5, 0.95, 0.99)), ms[-1], others, fives]
            if ms
            else [0, "-", "-", "-", "-", others, fives]
        )
        peak = (
            Sample(
                start,
                max(s.rss_mib for s in samples),
                max(s.threads for s in samples),
                max(s.fds for s in samples),
            )
            if samples
            else None
        )
        width = _windows(result)[0][1]
        label = (
            f"{start / 60:.0f}-{start / 60 + 1:.0f} min"
            if width == 60
            else f"{start:.0f}-{start + width:.0f} s"
        )
        rows.append((label, stats, peak))
    return rows


def report(result: SoakResult) -> list[Table]:
    """The soak's three tables: per minute, the slow clients, the targets."""
    limits = result.limits
    per_window = Table(
        f"Soak: {result.seconds / 60:.1f} minutes of mixed load with slow clients",
        WINDOW_COLUMNS,
    )
    rows = _window_rows(result)
    for label, stats, peak in rows:
        resources = [peak.rss_mib, peak.threads, peak.fds] if peak else ["-", "-", "-"]
        per_window.add(label, *stats, *resources)
    per_window.notes.append(
        f"Ordinary clients on keep-alive connections, 0-20 ms apart: 30% get, 15% list,"
        f" 15% cancel of their own tickets, 40% create. Server limits: head"
        f" {limits.header_timeout:g} s, body {limits.body_timeout:g} s, keep-alive"
        f" {limits.keepalive_timeout:g} s, send {limits.send_timeout:g} s, at most"
        f" {limits.max_connections} connections. Resources sampled from /proc every few"
        " seconds; latency is the client's, from request to whole answer."
    )

    slow = Table("Soak: what the slow clients got", ["kind", "closed by the server", "answers"])
    for kind in KINDS:
        outcomes = {k[1]: n for k, n in result.slow_outcomes.items() if k[0] == kind}
        if outcomes:
            answers = ", ".join(
                f"{status or 'none'}: {n}" for status, n in sorted(outcomes.items())
            )
            slow.add(kind, sum(outcomes.values()), answers)
    slow.notes.append(
        f"{result.slow_connections} slow connections opened in all; each reopened when"
        " the server closed it."
    )

    checked = Table("Soak: targets", ["target", "measured", ""])
    for target, measured, met in targets(result):
        checked.add(target, measured, "met" if met else "MISSED")
    return [per_window, slow, checked]


def targets(result: SoakResult) -> list[tuple[str, object, bool]]:
    """Each target of the soak: what it is, what was measured, and whether it was met."""
    errors = result.server_errors()
    failures = len(result.ledger.failures)
    found: list[tuple[str, object, bool]] = [
        ("no 5xx", f"{errors} of {len(result.ledger.answered):,}", errors == 0),
        ("no failed request (reset, timeout)", failures, failures == 0),
        (
            "every acknowledged write stored as acknowledged",
            f"{len(result.ledger.created):,} creates, {len(result.ledger.cancelled):,} cancels,"
            f" {len(result.lost)} missing",
            bool(result.ledger.created) and not result.lost,
        ),
        ("python -m chalicelib.check", result.check_output, result.check_ok),
    ]
    bound = 1 + result.limits.max_connections + SPARE_THREADS
    most = max((s.threads for s in result.samples), default=0)
    threads = f"threads at most 1 + cap + {SPARE_THREADS} spare = {bound}"
    found.append((threads, most, most <= bound))
    peaks = [peak for _, _, peak in _window_rows(result) if peak is not None]
    if len(peaks) >= 2:
        first, last = peaks[1 if len(peaks) > 2 else 0], peaks[-1]
        found.append(
            (
                f"RSS flat (second window to last, max; less than {RSS_GROWTH_MIB} MiB more)",
                f"{first.rss_mib:.1f} -> {last.rss_mib:.1f} MiB",
                last.rss_mib - first.rss_mib < RSS_GROWTH_MIB,
            )
        )
        found.append(
            (
                "threads and fds flat (second window to last, max)",
                f"{first.threads} -> {last.threads} threads, {first.fds} -> {last.fds} fds",
                last.threads <= bound and last.fds <= first.fds + FD_GROWTH,
            )
        )
    return found
