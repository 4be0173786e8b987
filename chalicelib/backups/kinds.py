"""Backup names and kinds, and the rule that keeps scheduled backups by day and week.

A backup's name says which database it is of, when its snapshot began (UTC, to the
millisecond, so names sort by time) and its kind: `torrentino-20251127T141500.123Z.db`
is a scheduled backup (as is every backup taken before kinds existed),
`...Z-manual.db` one taken by hand, `...Z-before-restore.db` the database a restore
replaced, and `...Z-before-upgrade-8-to-9.db` the database as it was before its schema
went from version 8 to 9.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime
from enum import StrEnum

_NAME = re.compile(
    r"(?P<stem>.+)-(?P<stamp>\d{8}T\d{6}\.\d{3})Z"
    r"(?:-(?P<tag>manual|before-restore|before-upgrade-(?P<upgrade>\d+-to-\d+)))?\.db"
)


class BackupKind(StrEnum):
    """What took a backup, which decides how long retention keeps it."""

    SCHEDULED = "scheduled"  # the daily one: the newest of each day and week are kept
    MANUAL = "manual"  # `make backup`, Back up now, POST: the newest few are kept
    BEFORE_UPGRADE = "before upgrade"  # kept until a later upgrade succeeds
    BEFORE_RESTORE = "before restore"  # the database a restore replaced: the newest few


def backup_name(
    stem: str,
    at: datetime,
    kind: BackupKind = BackupKind.SCHEDULED,
    *,
    upgrade: tuple[int, int] | None = None,
) -> str:
    """The file name of a backup of database `<stem>.db` whose snapshot began `at`; one
    taken before an upgrade names the schema versions it goes `upgrade` from and to."""
    at = at.astimezone(UTC)
    stamp = f"{at.year:04d}{at.month:02d}{at.day:02d}T{at.hour:02d}{at.minute:02d}{at.second:02d}"
    tag = "" if kind is BackupKind.SCHEDULED else "-" + kind.value.replace(" ", "-")
    if (kind is BackupKind.BEFORE_UPGRADE) != (upgrade is not None):
        raise ValueError("a backup before an upgrade, and only one, names its schema versions")
    if upgrade is not None:
        tag += f"-{upgrade[0]}-to-{upgrade[1]}"
    return f"{stem}-{stamp}.{at.microsecond // 1000:03d}Z{tag}.db"


def kind_of(name: str) -> BackupKind:
    """The kind of backup `name` names (a name without one is a scheduled backup's)."""
    match = _NAME.fullmatch(name)
    tag = match["tag"] if match else None
    if tag is None:
        return BackupKind.SCHEDULED
    if match is not None and match["upgrade"]:
        return BackupKind.BEFORE_UPGRADE
    return BackupKind(tag.replace("-", " "))


def taken_at(stem: str, name: str) -> datetime | None:
    """When the backup `name` of database `<stem>.db` was taken; None if it is not one."""
    match = _NAME.fullmatch(name)
    if match is None or match["stem"] != stem:
        return None
    try:
        return datetime.strptime(match["stamp"], "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
    except ValueError:  # digits in the right places, but not a date
        return None


def kept_by_retention(
    times: Iterable[datetime], *, keep_daily: int, keep_weekly: int
) -> set[datetime]:
    """Which backup times retention keeps: the newest backup of each of the `keep_daily`
    most recent days that have one, the newest of each of the `keep_weekly` most recent
    ISO weeks that have one (UTC), and always the newest of all."""
    newest_first = sorted(set(times), reverse=True)
    kept = set(newest_first[:1])

    def newest_per_period(period: Callable[[datetime], Hashable], count: int) -> None:
        periods: set[Hashable] = set()
        for moment in newest_first:
            key = period(moment)
            if key in periods:
                continue
            if len(periods) == count:
                return
            periods.add(key)
            kept.add(moment)

    newest_per_period(lambda moment: moment.date(), keep_daily)
    newest_per_period(lambda moment: moment.isocalendar()[:2], keep_weekly)
    return kept
