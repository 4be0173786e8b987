"""The Backups view shows each backup's kind, and says how many of each are kept."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from chalicelib.backups import backup
from chalicelib.backups.files import list_backups
from chalicelib.backups.kinds import BackupKind
from tests.browser.conftest import Site


def test_each_backup_shows_its_kind(fresh_site: Site, open_page: Callable[..., Page]) -> None:
    site = fresh_site
    site.file()
    db = site.server.db_path
    backups = db.parent / "backups"
    backup.create_backup(db, actor="system", backup_dir=backups)  # a scheduled one
    page = open_page(site)  # open mode: the anonymous admin
    page.get_by_role("link", name="Backups").click()
    expect(page.locator("main .lead")).to_contain_text("the newest 10 taken here are kept apart")
    page.get_by_role("button", name="Back up now").click()
    expect(page.locator("main .summary")).to_have_text("2 backups, newest first.")
    by_kind = {info.kind: info.name for info in list_backups(backups, db.stem)}
    assert set(by_kind) == {BackupKind.SCHEDULED, BackupKind.MANUAL}
    for kind, name in by_kind.items():
        row = page.locator(f'[data-backup="{name}"]')
        expect(row).to_contain_text(f"{kind.value}, ")
        expect(row).to_contain_text("1 ticket, verified")
    # One named as an upgrade names it (copied in by hand here: not verified, still listed).
    named = "torrentino-20261207T101500.123Z-before-upgrade-8-to-9.db"
    (backups / named).write_bytes((backups / by_kind[BackupKind.SCHEDULED]).read_bytes())
    page.reload()
    expect(page.locator(f'[data-backup="{named}"]')).to_contain_text("before upgrade 8 to 9, ")
