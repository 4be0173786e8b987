"""Backups in a real browser: an admin sees them and takes one; a user sees neither."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from chalicelib.backups.files import list_backups
from tests.browser.conftest import Site


def test_an_admin_takes_a_backup_and_sees_it_listed_and_logged(
    fresh_site: Site, open_page: Callable[..., Page]
) -> None:
    site = fresh_site
    site.file()
    page = open_page(site)  # open mode: the anonymous admin
    page.get_by_role("link", name="Backups").click()
    expect(page.locator("main h1")).to_have_text("Backups")
    caption = page.locator("main .summary")
    expect(caption).to_have_text("No backups yet.")
    page.get_by_role("button", name="Back up now").click()
    expect(caption).to_have_text("1 backup, newest first.")
    expect(page.locator("#toast")).to_contain_text("Backup taken in")
    [backup] = list_backups(site.server.db_path.parent / "backups", site.server.db_path.stem)
    row = page.locator(f'[data-backup="{backup.name}"]')
    expect(row).to_contain_text("1 ticket, verified")
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Backup taken").check()
    expect(page.locator(".event")).to_have_count(1)
    expect(page.locator(".event")).to_contain_text(f"{backup.name}: 1 ticket")


def test_a_user_has_no_backups_link_and_no_backups(
    site: Site, open_page: Callable[..., Page]
) -> None:
    page = open_page(site, "bob")
    expect(page.get_by_role("link", name="Audit log")).to_be_visible()
    expect(page.get_by_role("link", name="Backups")).to_have_count(0)  # hidden: not a link
    page.goto(f"{site.url}#/backups")
    expect(page.locator("main h1")).to_have_text("Backups")
    expect(page.locator("main")).to_contain_text("Only an admin sees the backups.")
    expect(page.get_by_role("button", name="Back up now")).to_have_count(0)
