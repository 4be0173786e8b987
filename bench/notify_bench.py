"""Notifications cost the request path nothing: a create on a database with ten targets
against the same create with none, as a request makes it (`open_storage`).

Targets read the audit log after their own cursor, so recording an event writes nothing
for them: the rows a create changes are the same with ten targets as with none (counted
by SQLite, `total_changes`), and so is its time, within the machine's noise. Rounds
interleave the two databases, so a noisy neighbour hits both alike.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

from bench import loader
from bench.common import Table, per_op_seconds
from bench.store_bench import REQUEST
from chalicelib.notifications.addresses import AddressPolicy
from chalicelib.notifications.model import CreateTargetRequest
from chalicelib.service.startup import ensure_started
from chalicelib.service.unit_of_work import open_storage
from chalicelib.storage import migrations

TARGETS = 10


def _add_targets(path: Path, count: int) -> None:
    """`count` webhook targets (never sent to: no delivery runs here)."""
    with open_storage(path) as storage:
        for n in range(count):
            request = CreateTargetRequest(url=f"https://hooks.example.com/{n}", kind="webhook")
            storage.targets.create(request, owner="admin", is_admin=True, policy=AddressPolicy())


def _creator(path: Path) -> tuple[Callable[[int], None], list[int]]:
    """Creates on `path`, as requests make them, and the rows each one wrote."""
    changes: list[int] = []

    def create(n: int) -> None:
        for _ in range(n):
            with open_storage(path) as storage:
                storage.tickets.create(REQUEST, created_by="anonymous")
                changes.append(storage.connection.total_changes)

    return create, changes


def run(workdir: Path, *, tickets: int, count: int, rounds: int) -> Table:
    """Creates on `tickets` tickets with 0 and `TARGETS` targets; `count` a round."""
    table = Table(
        f"Notifications: a create with {TARGETS} targets and with none ({tickets:,} tickets)",
        ["targets", "create ms", "rows written per create", "vs none"],
    )
    paths = {0: workdir / "notify-0.db", TARGETS: workdir / f"notify-{TARGETS}.db"}
    for targets, path in paths.items():
        loader.build(path, tickets)
        migrations.migrate(path)
        _add_targets(path, targets)
        ensure_started(path)
    creators = {targets: _creator(path) for targets, path in paths.items()}
    samples: dict[int, list[float]] = {targets: [] for targets in paths}
    for _ in range(rounds):
        for targets, (create, _) in creators.items():
            samples[targets].append(per_op_seconds(create, count, 1))
    none = statistics.median(samples[0])
    for targets, (_, changes) in creators.items():
        seconds = statistics.median(samples[targets])
        rows = statistics.median(changes)
        table.add(str(targets), seconds * 1000, f"{rows:g}", f"{seconds / none:.2f}x")
    table.notes.append(
        "Rows written: SQLite's count of the rows a create's connection inserted or changed."
    )
    return table
