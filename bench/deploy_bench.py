"""What a Lambda + EFS deployment pays: the package, a cold start, the pages one write
puts on the (network) filesystem in each journal mode, and rollback-journal against WAL
write throughput on local disk.

* Cold start: a fresh Lambda-shaped container (harness/lambda_harness.py: `python -I -S`
  seeing only the unzipped package) is timed from process start to ready (interpreter
  start plus the handler module's import: Lambda's init phase), then its first request
  through API Gateway's event (start-up: migrate, record `service_started`, then the
  request), then a second (warm) request. On a new database file and on an existing one.
* Pages written per create and per cancel, on a database of `tickets` tickets, with the
  seed's indexes (as migration 8 left them) and without the three that migration 9 drops:
  - WAL: the WAL is emptied (a TRUNCATE checkpoint) before each write, with an idle
    connection held open as the service holds one (so nothing checkpoints behind our
    back); after it, the WAL's size gives its frames: (bytes - 32) / (page size + 24).
    Each frame is one page, written once, plus a later checkpoint's write into the file.
  - Rollback journal: the database file is compared page by page before and after the
    write. Every changed page is written to the file at commit; each of those that
    existed before the write was first copied into the journal (pages appended at the
    end need no copy). So pages written = journal pages + file pages.
* Throughput: creates and cancels per second, each on a connection of its own as a
  request opens one, on local disk, WAL against `truncate` and `delete`.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import loader
from bench.common import Table
from chalicelib import settings
from chalicelib.service.unit_of_work import open_storage
from chalicelib.storage import db, migrations
from chalicelib.tickets.model import CreateTicketRequest, QueryContext
from harness.lambda_harness import ApiGateway, Container, Package, build_package

REQUEST = CreateTicketRequest(
    priority=100,
    query_context=QueryContext(tags=["music", "flac"], description="Abbey Road by The Beatles"),
    dest_path="/media/music/beatles",
)
# The three indexes migration 9 drops, as migration 1 created them: "seed indexes".
SEED_PREFIX_INDEXES = (
    "CREATE INDEX idx_tickets_state ON tickets(json_extract(state, '$.type'))",
    "CREATE INDEX idx_tickets_created_by ON tickets(created_by)",
    "CREATE INDEX idx_tickets_priority ON tickets(priority DESC)",
)
WAL_HEADER_BYTES = 32
WAL_FRAME_HEADER_BYTES = 24
MODES: tuple[settings.JournalMode, ...] = ("wal", "truncate", "delete")


@contextmanager
def journal_mode(mode: settings.JournalMode) -> Iterator[None]:
    """Run the block with TORRENTINO_JOURNAL_MODE set, as a deployment would set it."""
    before = os.environ.get(settings.JOURNAL_MODE_VARIABLE)
    os.environ[settings.JOURNAL_MODE_VARIABLE] = mode
    try:
        yield
    finally:
        if before is None:
            del os.environ[settings.JOURNAL_MODE_VARIABLE]
        else:
            os.environ[settings.JOURNAL_MODE_VARIABLE] = before


# --- the package and a cold start -------------------------------------------------------


@dataclass(frozen=True)
class ColdStart:
    init_ms: float  # process start to ready: interpreter start + the handler's import
    first_ms: float  # the first request, start-up included
    warm_ms: float  # the second request
    peak_rss_mib: float


def _peak_rss_mib(container: Container) -> float:
    assert container.process is not None
    status = Path(f"/proc/{container.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _timed_request(gateway: ApiGateway) -> float:
    started = time.perf_counter()
    response = gateway.request("GET", gateway.url("/api/v1/tickets?limit=10"))
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"cold-start request failed: {response.status} {response.body}")
    return elapsed


def cold_start(package: Package, workdir: Path, *, fresh: bool) -> ColdStart:
    """One container's init, first and second request; on a new database unless not `fresh`."""
    mount = workdir / "efs"
    if fresh and mount.exists():
        shutil.rmtree(mount)
    mount.mkdir(parents=True, exist_ok=True)
    # Open to keyless callers, so a fresh database's first request is served as it would be
    # once its first key exists (without a key it is a 401, from the same start-up work).
    container = Container(
        package,
        "APIHandler",
        mount_dir=mount,
        workdir=workdir / "container",
        extra_env={"TORRENTINO_OPEN_TO_NETWORK": "1"},
    )
    started = time.perf_counter()
    with container:
        init_ms = (time.perf_counter() - started) * 1000
        gateway = ApiGateway.execute_api(package, container)
        first_ms = _timed_request(gateway)
        warm_ms = _timed_request(gateway)
        return ColdStart(init_ms, first_ms, warm_ms, _peak_rss_mib(container))


def package_and_cold_start(workdir: Path, rounds: int) -> Table:
    """Build the efs stage's package and time `rounds` cold starts of each kind."""
    package = build_package("efs", workdir / "package")
    files = [p for p in package.task_dir.rglob("*") if p.is_file()]
    unzipped = sum(p.stat().st_size for p in files)
    table = Table(
        "Lambda: the package and a cold start (harness/lambda_harness.py)",
        ["what", "median", "min", "max"],
    )
    size = package.zip_path.stat().st_size / 2**20
    table.add("package (zip), MiB", size, size, size)
    table.add("unzipped, MiB", unzipped / 2**20, unzipped / 2**20, unzipped / 2**20)
    table.add("files", len(files), len(files), len(files))
    for fresh in (True, False):
        runs = [cold_start(package, workdir / "cold", fresh=fresh) for _ in range(rounds)]
        label = "new database" if fresh else "existing database"
        for name, values in (
            ("init (process start + import), ms", [r.init_ms for r in runs]),
            ("first request (start-up + request), ms", [r.first_ms for r in runs]),
            ("cold start total, ms", [r.init_ms + r.first_ms for r in runs]),
            ("second (warm) request, ms", [r.warm_ms for r in runs]),
            ("peak RSS after two requests, MiB", [r.peak_rss_mib for r in runs]),
        ):
            table.add(f"{label}: {name}", statistics.median(values), min(values), max(values))
    table.notes.append(
        f"{rounds} containers of each kind, one at a time, on local disk, on this machine's "
        "full CPU. Lambda gives a function CPU in proportion to its memory (one vCPU at "
        "1,769 MB), so at the efs stage's 1024 MB expect roughly 1.7x these CPU-bound times, "
        "plus Lambda's own sandbox and VPC/EFS setup."
    )
    return table


# --- pages written per write ------------------------------------------------------------


def _build(path: Path, tickets: int, *, seed_indexes: bool, mode: settings.JournalMode) -> None:
    loader.build(path, tickets)
    if seed_indexes:
        conn = sqlite3.connect(path)
        try:
            for statement in SEED_PREFIX_INDEXES:
                conn.execute(statement)
            conn.commit()
        finally:
            conn.close()
    with journal_mode(mode):
        migrations.migrate(path)  # the file in this mode, as the service would open it


def _page_size(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        size: int = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    return size


def _wal_frames(path: Path, write: Callable[[], None]) -> tuple[int, int]:
    with db.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    write()
    written = max(0, Path(f"{path}-wal").stat().st_size - WAL_HEADER_BYTES)
    return written // (_page_size(path) + WAL_FRAME_HEADER_BYTES), 0


def _changed_pages(path: Path, write: Callable[[], None]) -> tuple[int, int]:
    page = _page_size(path)
    before = path.read_bytes()
    write()
    after = path.read_bytes()
    changed = [
        n
        for n in range(len(after) // page)
        if before[n * page : (n + 1) * page] != after[n * page : (n + 1) * page]
    ]
    journaled = [n for n in changed if n < len(before) // page]
    return len(journaled), len(changed)


def _create(path: Path, ids: list[str]) -> None:
    with open_storage(path) as storage:
        ids.append(storage.tickets.create(REQUEST, created_by="bench").id)


def _cancel(path: Path, index: int, ids: list[str]) -> None:
    with open_storage(path) as storage:
        storage.tickets.cancel(ids[index], cancelled_by="bench", reason=None)


def pages_per_write(
    path: Path, mode: settings.JournalMode, count: int
) -> dict[str, tuple[float, float]]:
    """Mean (journal or WAL pages, database file pages) per create and per cancel."""
    measure = _wal_frames if mode == "wal" else _changed_pages
    results: dict[str, list[tuple[int, int]]] = {"create": [], "cancel": []}
    with journal_mode(mode):
        held = db.hold_open(path) if mode == "wal" else None  # as the service holds one
        try:
            created: list[str] = []
            for n in range(count):
                results["create"].append(measure(path, functools.partial(_create, path, created)))
                results["cancel"].append(
                    measure(path, functools.partial(_cancel, path, n, created))
                )
        finally:
            if held is not None:
                held.close()
    return {
        name: (statistics.mean(r[0] for r in runs), statistics.mean(r[1] for r in runs))
        for name, runs in results.items()
    }


def pages_written(workdir: Path, tickets: int, count: int) -> Table:
    table = Table(
        f"Pages written per write, by journal mode ({tickets:,} tickets, 4 KiB pages)",
        ["write", "indexes", "mode", "journal/WAL pages", "file pages", "total", "KiB"],
    )
    for seed_indexes in (True, False):
        label = "seed (migration 8)" if seed_indexes else "migration 9"
        for mode in MODES:
            path = workdir / f"pages-{mode}-{'seed' if seed_indexes else 'now'}.db"
            _build(path, tickets, seed_indexes=seed_indexes, mode=mode)
            measured = pages_per_write(path, mode, count)
            for write in ("create", "cancel"):
                log, file = measured[write]
                total = log + file
                table.add(write, label, mode, log, file, total, total * 4)
    table.notes.append(
        f"Means over {count} creates and {count} cancels. WAL: frames appended per commit "
        "(the file pages come later, once per page per checkpoint, so 0 here). Rollback: "
        "original pages copied into the journal plus changed pages written into the file. "
        "On EFS every page is a network write: see docs/deploy.md."
    )
    return table


# --- throughput -------------------------------------------------------------------------


def _rate(path: Path, mode: settings.JournalMode, count: int, rounds: int) -> tuple[float, float]:
    """Median creates/s and cancels/s over `rounds`, a connection per write."""
    creates, cancels = [], []
    with journal_mode(mode):
        held = db.hold_open(path) if mode == "wal" else None
        try:
            for _ in range(rounds):
                ids: list[str] = []
                started = time.perf_counter()
                for _ in range(count):
                    _create(path, ids)
                creates.append(count / (time.perf_counter() - started))
                started = time.perf_counter()
                for index in range(len(ids)):
                    _cancel(path, index, ids)
                cancels.append(count / (time.perf_counter() - started))
        finally:
            if held is not None:
                held.close()
    return statistics.median(creates), statistics.median(cancels)


def throughput(workdir: Path, tickets: int, count: int, rounds: int) -> Table:
    table = Table(
        "Writes per second on local disk: WAL against a rollback journal",
        ["mode", "creates/s", "cancels/s", "create vs WAL", "cancel vs WAL"],
    )
    rates = {}
    for mode in MODES:
        path = workdir / f"rate-{mode}.db"
        _build(path, tickets, seed_indexes=False, mode=mode)
        rates[mode] = _rate(path, mode, count, rounds)
    for mode, (creates, cancels) in rates.items():
        wal_creates, wal_cancels = rates["wal"]
        table.add(
            mode, creates, cancels, f"{creates / wal_creates:.2f}x", f"{cancels / wal_cancels:.2f}x"
        )
    table.notes.append(
        f"One writer, {count} creates then {count} cancels per round, median of {rounds} "
        f"rounds, on a database of {tickets:,} tickets; synchronous = FULL in every mode."
    )
    return table


# --- system calls per write (what becomes network round trips on NFS) -------------------

PROBE_CALLS = "openat,close,fsync,fdatasync,fcntl,pwrite64,pread64,ftruncate,unlink"
COUNTED = {  # system call -> what an NFS client makes of it
    "fcntl": "locks (each a LOCK/LOCKU round trip)",
    "fsync": "syncs (each waits for its writes: a COMMIT round trip)",
    "fdatasync": "syncs (each waits for its writes: a COMMIT round trip)",
    "pread64": "page reads (after a lock the client revalidates its cache)",
    "pwrite64": "writes (cached; sent before the next sync)",
    "openat": "opens and creates",
    "ftruncate": "truncates and deletes",
    "unlink": "truncates and deletes",
}


def _probe(name: str, mode: settings.JournalMode) -> None:
    """Under strace: one create and one cancel, between marker files the trace shows."""
    path = Path(name)
    os.environ[settings.JOURNAL_MODE_VARIABLE] = mode
    held = db.hold_open(path) if mode == "wal" else None  # noqa: F841 (kept open)
    ids: list[str] = []
    _create(path, ids)  # warm: the process's first write opens more than a request does
    for marker in ("create", "cancel", "end"):
        path.with_name(f"{mode}-marker-{marker}").touch()
        if marker == "create":
            _create(path, ids)
        elif marker == "cancel":
            _cancel(path, 1, ids)


def _count_calls(trace: list[str], start: int, end: int, database: str) -> dict[str, int]:
    """What lines start..end of the trace did to the database's files, by kind (COUNTED).

    Descriptors are followed from the trace's beginning: a connection may reuse one that
    the process opened earlier (SQLite keeps them per file, and the WAL's -shm).
    """
    counts: dict[str, int] = {}
    descriptors: set[str] = set()
    for number, line in enumerate(trace[:end]):
        opened = re.search(r'openat\(.*"([^"]+)".* = (\d+)$', line)
        call = re.match(r"(?:\d+ +)?(\w+)\((\d+)?", line)
        if opened and Path(opened.group(1)).name.startswith(database):
            descriptors.add(opened.group(2))
        elif call and call.group(1) == "close" and call.group(2) in descriptors:
            descriptors.discard(call.group(2))
        if number < start or call is None or call.group(1) not in COUNTED:
            continue
        ours = call.group(2) in descriptors or (
            call.group(1) in ("openat", "unlink") and database in line
        )
        if ours and (call.group(1) != "fcntl" or "F_SETLK" in line):
            kind = COUNTED[call.group(1)]
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def system_calls(workdir: Path, tickets: int) -> Table | None:
    """System calls per create and cancel on the database's files, by mode (needs strace)."""
    strace = shutil.which("strace")
    if strace is None:
        return None
    per_mode: dict[str, dict[str, dict[str, int]]] = {}
    for mode in MODES:
        path = workdir / f"calls-{mode}.db"
        _build(path, tickets, seed_indexes=False, mode=mode)
        out = workdir / f"calls-{mode}.trace"
        code = f"from bench.deploy_bench import _probe; _probe({str(path)!r}, {mode!r})"
        subprocess.run(
            [
                strace,
                "-f",
                "-e",
                f"trace={PROBE_CALLS}",
                "-o",
                str(out),
                sys.executable,
                "-c",
                code,
            ],
            cwd=Path(__file__).resolve().parents[1],
            check=True,
            capture_output=True,
        )
        lines = out.read_text().splitlines()
        marks = {
            m: next(n for n, line in enumerate(lines) if f"{mode}-marker-{m}" in line)
            for m in ("create", "cancel", "end")
        }
        per_mode[mode] = {
            "create": _count_calls(lines, marks["create"], marks["cancel"], path.name),
            "cancel": _count_calls(lines, marks["cancel"], marks["end"], path.name),
        }
    kinds = list(dict.fromkeys(COUNTED.values()))
    table = Table(
        "System calls one write makes on the database's files (strace), by journal mode",
        ["calls", *[f"{w}, {m}" for w in ("create", "cancel") for m in MODES]],
    )
    for kind in kinds:
        table.add(kind, *[per_mode[m][w].get(kind, 0) for w in ("create", "cancel") for m in MODES])
    table.notes.append(
        "One create and one cancel on a warm process, each on a connection of its own. On "
        "local disk these are cheap; on EFS each lock and each sync is a network round trip "
        "and the page reads are too unless the client's cache is still valid: see "
        "docs/deploy.md for what that makes per write."
    )
    return table


def run(workdir: Path, *, tickets: int, count: int, rounds: int, cold_starts: int) -> list[Table]:
    """Every table of this benchmark (the system calls only where strace is installed)."""
    calls = system_calls(workdir, tickets)
    return [
        package_and_cold_start(workdir / "lambda", cold_starts),
        pages_written(workdir, tickets, count),
        *([calls] if calls is not None else []),
        throughput(workdir, tickets, count, rounds),
    ]
