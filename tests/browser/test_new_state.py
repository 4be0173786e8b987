"""A new state is one edit: a copy of the project, changed in `chalicelib/tickets/states.py`
alone, handles a state it never heard of, end to end.

The change adds `searching`, a state that is not final: an admin moves a pending ticket
into it, and from it a ticket may be completed, failed or cancelled. A real server runs
from the copy; its API, the tickets' history, the consistency check, the OpenAPI document
and the web page in Chromium (badge, filter chip with its count, the admin's buttons) all
follow from the declaration.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_spec_validator import validate
from playwright.sync_api import Page, expect

from chalicelib.keys.identity import Role
from harness.server_process import Server
from tests.browser.conftest import Site, unique_tag

PROJECT = Path(__file__).resolve().parents[2]
STATES_MODULE = "chalicelib/tickets/states.py"

# The one edit: a state declared before `cancelled`, and its rows in the table.
NEW_STATE = '''class Searching(TicketState):
    """Looking for a source to download from."""

    kind: ClassVar[str] = "searching"
    move: ClassVar[Move | None] = Move(
        verb="search",
        who="admin",
        summary="Start searching for a pending ticket (admins)",
        button="Start searching",
        done="Searching started.",
    )
    started_by: str
    started_at: Timestamp


class Cancelled(TicketState):
'''
OLD_ROW = '    "pending": frozenset({"cancelled", "completed", "failed"}),\n'
NEW_ROWS = (
    '    "pending": frozenset({"searching", "cancelled", "completed", "failed"}),\n'
    '    "searching": frozenset({"cancelled", "completed", "failed"}),\n'
)


def tracked_files() -> list[str]:
    # What git tracks, or would (a new file not yet committed, but not an ignored one).
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT,
        capture_output=True,
        check=True,
    ).stdout
    return [name for name in listed.decode().split("\0") if name and (PROJECT / name).is_file()]


def with_new_state(source: str) -> str:
    assert source.count("class Cancelled(TicketState):\n") == 1
    assert source.count(OLD_ROW) == 1
    return source.replace("class Cancelled(TicketState):\n", NEW_STATE).replace(OLD_ROW, NEW_ROWS)


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's tracked files, with the one edit."""
    root = tmp_path_factory.mktemp("project")
    for name in tracked_files():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT / name, root / name)
    module = root / STATES_MODULE
    module.write_text(with_new_state(module.read_text()))
    return root


@pytest.fixture(scope="module")
def copied_site(copy: Path) -> Iterator[Site]:
    """A server running the copy's code (its own launcher), with alice (admin) and bob."""
    launcher = [sys.executable, str(copy / "launcher" / "local_server.py")]
    server = Server(copy.parent / "searching.db", command=launcher).start()
    site = Site(server)
    site.add_key("alice", Role.ADMIN)
    site.add_key("bob", Role.USER)
    yield site
    server.stop()


def request(site: Site, method: str, path: str, user: str, **kw: Any) -> requests.Response:
    return requests.request(
        method, f"{site.server.url}/api/v1/{path}", headers=site.headers(user), timeout=10, **kw
    )


def kinds(history: dict[str, Any]) -> list[tuple[str, Any]]:
    """Each entry of a history as (event type, the state's name after it)."""
    return [
        (entry["event"]["event_type"], next(iter(entry["state"])))
        if isinstance(entry["state"], dict)
        else (entry["event"]["event_type"], entry["state"])
        for entry in history["entries"]
    ]


def check(project: Path, db_path: Path) -> subprocess.CompletedProcess[str]:
    """The consistency check (`make check-db`) as the code in `project` runs it."""
    return subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "check", str(db_path)],
        cwd=project,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_only_the_states_module_differs(copy: Path) -> None:
    changed = [
        name
        for name in tracked_files()
        if (copy / name).read_bytes() != (PROJECT / name).read_bytes()
    ]
    assert changed == [STATES_MODULE]


def test_the_api_moves_tickets_into_it_and_out_of_it(copied_site: Site) -> None:
    site = copied_site
    tag = unique_tag()
    found, dropped = (
        site.file("bob", query_context={"tags": [tag], "description": name})
        for name in ("Found", "Dropped")
    )
    machine = request(site, "GET", "states", "bob").json()
    by_name = {state["name"]: state for state in machine["states"]}
    assert list(by_name) == ["pending", "searching", "cancelled", "completed", "failed"]
    assert by_name["pending"]["next"] == ["searching", "cancelled", "completed", "failed"]
    assert by_name["searching"]["next"] == ["cancelled", "completed", "failed"]
    move = by_name["searching"]["move"]
    assert (move["method"], move["path"], move["who"], move["button"]) == (
        "POST",
        "/api/v1/tickets/{ticket_id}/search",
        "admin",
        "Start searching",
    )
    # Only an admin may move a ticket into it, and only from pending.
    refused = request(site, "POST", f"tickets/{found['id']}/search", "bob")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "only an admin may search a ticket"
    moved = request(site, "POST", f"tickets/{found['id']}/search", "alice")
    assert moved.status_code == 200
    assert moved.json()["state"]["searching"]["started_by"] == "alice"
    assert moved.headers["ETag"]
    again = request(site, "POST", f"tickets/{found['id']}/search", "alice")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"
    # Filtered and counted by state.
    listed = request(site, "GET", f"tickets?state=searching&tag={tag}", "bob").json()
    assert [ticket["id"] for ticket in listed["tickets"]] == [found["id"]]
    assert listed["total"] == 1
    pending = request(site, "GET", f"tickets?state=pending&tag={tag}", "bob").json()
    assert [ticket["id"] for ticket in pending["tickets"]] == [dropped["id"]]
    # Out of it: cancelled by its owner, failed by an admin.
    request(site, "POST", f"tickets/{dropped['id']}/search", "alice").raise_for_status()
    cancelled = request(site, "DELETE", f"tickets/{dropped['id']}", "bob", json={"reason": "no"})
    assert cancelled.json()["state"]["cancelled"]["reason"] == "no"
    failed = request(
        site, "POST", f"tickets/{found['id']}/fail", "alice", json={"error": "no seeders"}
    )
    assert failed.json()["state"]["failed"]["error"] == "no seeders"


def test_the_openapi_document_describes_it(copied_site: Site) -> None:
    document = request(copied_site, "GET", "openapi.json", "bob").json()
    validate(document)
    route = document["paths"]["/api/v1/tickets/{ticket_id}/search"]["post"]
    assert route["operationId"] == "search_ticket"
    assert route["summary"] == "Start searching for a pending ticket (admins)"
    shapes = document["components"]["schemas"]["Ticket"]["properties"]["state"]["oneOf"]
    assert "Searching" in [shape.get("title") for shape in shapes]
    filters = document["paths"]["/api/v1/tickets"]["get"]["parameters"]
    state_filter = next(parameter for parameter in filters if parameter["name"] == "state")
    assert "searching" in state_filter["schema"]["items"]["enum"]


def test_the_history_and_the_consistency_check_replay_it(copy: Path, copied_site: Site) -> None:
    site = copied_site
    done, dropped = (site.file("bob") for _ in range(2))
    for ticket in (done, dropped):
        request(site, "POST", f"tickets/{ticket['id']}/search", "alice").raise_for_status()
    request(site, "POST", f"tickets/{done['id']}/complete", "alice").raise_for_status()
    request(site, "DELETE", f"tickets/{dropped['id']}", "bob").raise_for_status()
    history = request(site, "GET", f"tickets/{done['id']}/history", "bob").json()
    assert kinds(history) == [
        ("ticket_created", "pending"),
        ("ticket_state_changed", "searching"),
        ("ticket_state_changed", "completed"),
    ]
    history = request(site, "GET", f"tickets/{dropped['id']}/history", "bob").json()
    assert kinds(history)[1:] == [
        ("ticket_state_changed", "searching"),
        ("ticket_cancelled", "cancelled"),
    ]
    assert history["entries"][2]["event"]["data"]["previous_state"] == "searching"
    # The check replays every ticket from its events: the copy's check finds the database
    # sound; the unchanged project's, which knows no such state, cannot.
    checked = check(copy, site.server.db_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert ": ok (" in checked.stdout
    unchanged = check(PROJECT, site.server.db_path)
    assert unchanged.returncode == 1
    assert "searching" in unchanged.stdout


def test_the_page_shows_it_and_offers_its_moves(
    copied_site: Site, open_page: Callable[..., Page]
) -> None:
    site = copied_site
    tag = unique_tag()
    found, shown = (
        site.file("bob", query_context={"tags": [tag], "description": name})
        for name in ("Found", "Shown")
    )
    request(site, "POST", f"tickets/{found['id']}/search", "alice").raise_for_status()
    # The queue: a chip for it with its count, and its badge, plain but a badge.
    page = open_page(site, "alice", f"#/?tag={tag}&state=searching")
    expect(page.locator(".chip", has_text="Searching").locator(".count")).to_have_text("1")
    expect(page.locator(".chip", has_text="Pending").locator(".count")).to_have_text("1")
    row = page.locator("[data-ticket-row]")
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("Searching")
    colour = row.locator(".badge").evaluate("badge => getComputedStyle(badge).backgroundColor")
    assert colour not in ("rgba(0, 0, 0, 0)", "transparent")
    # A ticket's page: the admin moves it into the new state, then out of it.
    page.goto(f"{site.url}#/tickets/{shown['id']}")
    expect(page.locator("main h1")).to_have_text("Shown")
    page.get_by_role("button", name="Start searching").click()
    expect(page.get_by_role("alert")).to_have_text("Searching started.")
    expect(page.locator("main h1 + .badge")).to_have_text("Searching")
    expect(page.locator('dt:text-is("State") + dd')).to_contain_text("by alice")
    timeline = page.locator(".timeline li")
    expect(timeline.nth(1)).to_contain_text("Searching by alice")
    expect(page.get_by_role("button", name="Start searching")).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel ticket")).to_be_visible()
    page.get_by_role("button", name="Mark completed").click()
    expect(page.get_by_role("alert")).to_have_text("Ticket completed.")
    expect(timeline).to_have_count(3)
    expect(timeline.nth(2)).to_contain_text("Completed by alice")
