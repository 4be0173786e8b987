"""Backup names sort by time, and retention keeps exactly what it promises."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.backups.files import backup_name, kept_by_retention, taken_at
from chalicelib.backups.kinds import BackupKind, kind_of


def at(day: str, hour: int) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def test_names_sort_by_time_and_give_the_time_back() -> None:
    rng = random.Random(14)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    times = [
        start + timedelta(seconds=rng.randrange(10 * 365 * 86400), milliseconds=rng.randrange(1000))
        for _ in range(500)
    ]
    names = [backup_name("torrentino", moment) for moment in times]
    assert sorted(names) == [backup_name("torrentino", moment) for moment in sorted(times)]
    for name, moment in zip(names, times, strict=True):
        assert taken_at("torrentino", name) == moment
    assert backup_name("torrentino", at("2025-11-27", 14)) == "torrentino-20251127T140000.000Z.db"


@pytest.mark.parametrize(
    "name",
    [
        "other-20251127T140000.000Z.db",  # another database's backup
        "torrentino-20251127T140000.000Z.db.json",
        ".torrentino-20251127T140000.000Z.db.tmp",
        "torrentino-20251327T140000.000Z.db",  # month 13
        "torrentino-20251127T140000Z.db",
        "torrentino.db",
        "notes.txt",
    ],
)
def test_other_files_are_not_backups(name: str) -> None:
    assert taken_at("torrentino", name) is None


def test_retention_keeps_the_newest_of_7_days_and_of_4_weeks() -> None:
    # Daily at 03:00 from 1 May to Sunday 29 June 2025, none on 25 and 26 June (the
    # server was off), and a second, later backup on 15, 27 and 29 June.
    gap = {date(2025, 6, 25), date(2025, 6, 26)}
    days = [date(2025, 5, 1) + timedelta(days=n) for n in range(60)]
    backups = [at(day.isoformat(), 3) for day in days if day not in gap]
    backups += [at("2025-06-15", 15), at("2025-06-27", 15), at("2025-06-29", 15)]
    assert len(backups) == 61

    kept = kept_by_retention(backups, keep_daily=7, keep_weekly=4)

    daily = [  # the newest of each of the 7 latest days that have a backup
        at("2025-06-29", 15),
        at("2025-06-28", 3),
        at("2025-06-27", 15),
        at("2025-06-24", 3),
        at("2025-06-23", 3),
        at("2025-06-22", 3),
        at("2025-06-21", 3),
    ]
    weekly = [  # the newest of ISO weeks 26, 25, 24 and 23
        at("2025-06-29", 15),
        at("2025-06-22", 3),
        at("2025-06-15", 15),
        at("2025-06-08", 3),
    ]
    assert kept == set(daily) | set(weekly)
    assert len(kept) == 9


def test_retention_always_keeps_the_newest() -> None:
    backups = [at("2025-06-01", hour) for hour in range(5)]
    assert kept_by_retention(backups, keep_daily=0, keep_weekly=0) == {at("2025-06-01", 4)}
    assert kept_by_retention([], keep_daily=7, keep_weekly=4) == set()


def test_a_week_boundary_is_iso_monday_in_utc() -> None:
    sunday_night, monday_morning = at("2025-06-29", 23), at("2025-06-30", 0)
    kept = kept_by_retention([sunday_night, monday_morning], keep_daily=1, keep_weekly=2)
    assert kept == {sunday_night, monday_morning}
    kept = kept_by_retention([sunday_night, monday_morning], keep_daily=0, keep_weekly=1)
    assert kept == {monday_morning}


@pytest.mark.parametrize(
    ("kind", "upgrade", "suffix"),
    [
        (BackupKind.SCHEDULED, None, "Z.db"),
        (BackupKind.MANUAL, None, "Z-manual.db"),
        (BackupKind.BEFORE_RESTORE, None, "Z-before-restore.db"),
        (BackupKind.BEFORE_UPGRADE, (8, 9), "Z-before-upgrade-8-to-9.db"),
    ],
)
def test_a_backup_names_its_kind_and_an_upgrade_both_schemas(
    kind: BackupKind, upgrade: tuple[int, int] | None, suffix: str
) -> None:
    moment = at("2025-11-27", 14)
    name = backup_name("torrentino", moment, kind, upgrade=upgrade)
    assert name == f"torrentino-20251127T140000.000{suffix}"
    assert kind_of(name) is kind
    assert taken_at("torrentino", name) == moment
    assert taken_at("other", name) is None


def test_names_without_a_kind_are_scheduled_backups_as_before() -> None:
    assert kind_of("torrentino-20251127T140000.000Z.db") is BackupKind.SCHEDULED
    assert kind_of("my-old-db-20251127T140000.000Z.db") is BackupKind.SCHEDULED
    assert taken_at("torrentino", "torrentino-20251127T140000.000Z-weekly.db") is None


def test_only_a_backup_before_an_upgrade_names_schema_versions() -> None:
    moment = at("2025-11-27", 14)
    with pytest.raises(ValueError, match="schema versions"):
        backup_name("torrentino", moment, BackupKind.BEFORE_UPGRADE)
    with pytest.raises(ValueError, match="schema versions"):
        backup_name("torrentino", moment, BackupKind.MANUAL, upgrade=(8, 9))
