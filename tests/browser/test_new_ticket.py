"""Filing a ticket in a real browser: hints, the API's field errors, nothing filed twice."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import BrowserLog, Site, unique_tag


def tickets_tagged(site: Site, tag: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = site.call("GET", f"tickets?tag={tag}", "alice")["tickets"]
    return found


def fill(page: Page, *, description: str, tags: str, dest: str, priority: str) -> None:
    page.get_by_label("Description").fill(description)
    page.get_by_label("Tags").fill(tags)
    page.get_by_label("Destination").fill(dest)
    page.get_by_label("Priority").fill(priority)


def test_filing_a_ticket_shows_it_on_its_page(site: Site, open_page: Callable[..., Page]) -> None:
    tag = unique_tag()
    page = open_page(site, "bob", "#/new")
    # The hints mirror the API's bounds.
    for hint in ("10,000 characters", "100 tags of 1 to 100 characters", "4,096 bytes", "65,535"):
        expect(page.locator(".hint", has_text=hint)).to_have_count(1)
    fill(
        page,
        description="Abbey Road by The Beatles, 2019 remaster",
        tags=f"music, flac , {tag},",
        dest="/media/music/beatles",
        priority="150",
    )
    page.get_by_role("button", name="File request").click()
    expect(page.locator("main h1")).to_have_text("Abbey Road by The Beatles, 2019 remaster")
    expect(page.get_by_role("status").filter(has_text="Request filed.")).to_be_visible()
    (ticket,) = tickets_tagged(site, tag)
    assert ticket["created_by"] == "bob"
    assert ticket["priority"] == 150
    assert ticket["query_context"] == {
        "tags": ["music", "flac", tag],
        "description": "Abbey Road by The Beatles, 2019 remaster",
    }
    assert ticket["dest_path"] == "/media/music/beatles"
    assert page.url.endswith(f"#/tickets/{ticket['id']}")


def test_the_apis_field_errors_show_next_to_their_fields(
    site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow(400)
    tag = unique_tag()
    page = open_page(site, "bob", "#/new")
    fill(
        page,
        description="Something",
        tags=f"{tag}, {'x' * 101}",
        dest="media/music",
        priority="70000",
    )
    page.get_by_role("button", name="File request").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_be_focused()
    expect(summary.locator("li")).to_have_count(3)
    destination = page.locator(".field", has=page.get_by_label("Destination"))
    expect(destination.locator(".field-error")).to_contain_text("must be an absolute path")
    expect(page.get_by_label("Destination")).to_have_attribute("aria-invalid", "true")
    priority = page.locator(".field", has=page.get_by_label("Priority"))
    expect(priority.locator(".field-error")).to_contain_text("less than or equal to 65535")
    tags = page.locator(".field", has=page.get_by_label("Tags"))
    expect(tags.locator(".field-error")).to_contain_text("Tag 2: ")
    expect(tags.locator(".field-error")).to_contain_text("at most 100 characters")
    description = page.locator(".field", has=page.get_by_label("Description"))
    expect(description.locator(".field-error")).to_have_count(0)
    # The summary's links take you to the field.
    summary.get_by_role("link", name="Destination:").click()
    expect(page.get_by_label("Destination")).to_be_focused()
    assert tickets_tagged(site, tag) == []
    # Fixing the fields files it, and the errors go.
    page.get_by_label("Destination").fill("/media/music")
    page.get_by_label("Priority").fill("1")
    page.get_by_label("Tags").fill(tag)
    page.get_by_role("button", name="File request").click()
    expect(page.locator("main h1")).to_have_text("Something")
    assert len(tickets_tagged(site, tag)) == 1


def test_a_double_click_files_one_ticket(site: Site, open_page: Callable[..., Page]) -> None:
    tag = unique_tag()
    page = open_page(site, "bob", "#/new")
    fill(page, description="Once", tags=tag, dest="/media/once", priority="1")
    sent: list[str | None] = []
    page.on(
        "request",
        lambda r: sent.append(r.headers.get("idempotency-key")) if r.method == "POST" else None,
    )
    page.get_by_role("button", name="File request").dblclick()
    expect(page.locator("main h1")).to_have_text("Once")
    assert len(tickets_tagged(site, tag)) == 1
    assert sent and all(key for key in sent) and len(set(sent)) == 1


def test_a_retry_after_a_lost_answer_files_one_ticket(
    site: Site, open_page: Callable[..., Page], console: BrowserLog
) -> None:
    console.allow_failure("net::ERR_CONNECTION_RESET")
    tag = unique_tag()
    page = open_page(site, "bob", "#/new")
    fill(page, description="Lost answer", tags=tag, dest="/media/lost", priority="1")
    keys: list[str] = []

    def lose_the_answer(route: Route) -> None:
        # The server gets the request and files the ticket; the answer never arrives.
        keys.append(route.request.headers["idempotency-key"])
        route.fetch()
        route.abort("connectionreset")

    page.route("**/api/v1/tickets", lose_the_answer)
    page.get_by_role("button", name="File request").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_contain_text("could not be reached")
    expect(summary).to_contain_text("trying again is safe")
    assert len(tickets_tagged(site, tag)) == 1
    page.unroute("**/api/v1/tickets")
    retries: list[str | None] = []
    page.on(
        "request",
        lambda r: retries.append(r.headers.get("idempotency-key")) if r.method == "POST" else None,
    )
    page.get_by_role("button", name="File request").click()
    expect(page.locator("main h1")).to_have_text("Lost answer")
    assert retries == keys  # the same Idempotency-Key: the server answers the first ticket
    (ticket,) = tickets_tagged(site, tag)
    assert page.url.endswith(f"#/tickets/{ticket['id']}")
