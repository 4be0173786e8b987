"""The web page in Chromium behind API Gateway's own URL, where the stage comes first in
every path (`https://…/api/…`, stage `api`): the packaged zip in a Lambda container, the
harness's API Gateway in front of it (harness/lambda_harness.py), and a few lines of HTTP
server in front of that, so that the browser talks to it.

The browser tests (tests/browser/) run the page at the root of `make run`, where a URL
that loses or doubles the prefix works all the same. Here it does not: API Gateway
refuses a path outside the stage without calling the function, and the app sees the
prefix in the request context as it does on AWS, so its links (`next`, `Location`) carry
it. Every request the page makes must reach the function.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import expect, sync_playwright

from harness.browser import launch
from harness.lambda_harness import ApiGateway, Package
from tests.browser.conftest import EXPECT_MS, KEY_ITEM, BrowserLog
from tests.deploy.conftest import StartContainer, create_first_key
from tests.helpers import example_ticket

PAGE_SIZE = 50  # the page's page size (chalicelib/ui/core.js)
# Hop-by-hop headers, and the browser's Host: API Gateway sets its own.
NOT_FORWARDED = {"host", "connection", "keep-alive", "content-length", "transfer-encoding"}


@dataclass
class Forwarded:
    method: str
    path: str
    status: int
    invoked: bool


@dataclass
class GatewayFront:
    """The browser's way in: an HTTP server on a free loopback port that hands each request
    to the gateway as a request for the same path and query on API Gateway's URL."""

    gateway: ApiGateway
    seen: list[Forwarded] = field(default_factory=list)
    origin: str = ""

    @contextmanager
    def running(self) -> Iterator[GatewayFront]:
        lock = threading.Lock()  # a Lambda container serves one event at a time
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else None
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in NOT_FORWARDED
                }
                with lock:
                    answer = front.gateway.request(
                        self.command, self.path, headers=headers, body=body
                    )
                    front.seen.append(
                        Forwarded(self.command, self.path, answer.status, answer.invoked)
                    )
                data = answer.body.encode()
                self.send_response(answer.status)
                for name, values in answer.headers.items():
                    if name.lower() not in NOT_FORWARDED:
                        for value in values:
                            self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = forward

            def log_message(self, *args: object) -> None:
                pass  # `seen` keeps what matters

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def test_the_page_works_behind_the_stage_prefix(
    package: Package, start_container: StartContainer
) -> None:
    key = create_first_key(start_container)
    gateway = ApiGateway.execute_api(package, start_container())  # the browser brings the key
    assert gateway.prefix == "/api"
    for n in range(PAGE_SIZE + 1):  # one more than a page: the queue has a `next`
        filed = gateway.request(
            "POST",
            gateway.url("/api/v1/tickets"),
            headers={"X-Api-Key": key},
            json_body=example_ticket(query_context={"tags": [], "description": f"Ticket {n}"}),
        )
        assert filed.status == 201, filed.body
    log = gateway.request("GET", gateway.url("/api/v1/audit"), headers={"X-Api-Key": key})
    total_events, oldest_event = log.json()["total"], log.json()["events"][0]["id"]
    assert PAGE_SIZE < total_events < 2 * PAGE_SIZE  # the newest page, and one older
    console = BrowserLog()
    with GatewayFront(gateway).running() as front, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context = browser.new_context(
                storage_state={
                    "cookies": [],
                    "origins": [
                        {"origin": front.origin, "localStorage": [{"name": KEY_ITEM, "value": key}]}
                    ],
                }
            )
            context.set_default_timeout(EXPECT_MS)
            console.watch(context)
            page = context.new_page()
            # The stage without its slash is sent to the stage's folder, where the page's
            # relative URLs stay inside the stage.
            page.goto(f"{front.origin}/api")
            expect(page).to_have_url(f"{front.origin}/api/")
            rows = page.locator("[data-ticket-row]")
            expect(rows).to_have_count(PAGE_SIZE)
            # More pages through the API's `next`, which carries the stage already.
            page.get_by_role("button", name="Show more").click()
            expect(rows).to_have_count(PAGE_SIZE + 1)
            # The audit log, a page older and back (pages are counted from the oldest).
            page.get_by_role("link", name="Audit log").click()
            events = page.locator(".event")
            expect(events).to_have_count(total_events - PAGE_SIZE)
            page.get_by_role("button", name="Older").click()
            expect(events).to_have_count(PAGE_SIZE)
            expect(events.last).to_have_attribute("data-event-id", str(oldest_event))
            page.get_by_role("button", name="Newest").click()
            expect(events.first).to_contain_text(f'"Ticket {PAGE_SIZE}"')
            # Filing a ticket, then its page, its history, and cancelling it.
            page.get_by_role("link", name="New request").click()
            page.get_by_label("Description").fill("Abbey Road")
            page.get_by_label("Destination").fill("/media/music/beatles")
            page.get_by_role("button", name="File request").click()
            expect(page.locator("main h1")).to_have_text("Abbey Road")
            expect(page.locator(".timeline li")).to_have_count(1)
            page.get_by_role("button", name="Cancel ticket").click()
            expect(page.locator(".timeline li")).to_have_count(2)
            expect(page.locator(".badge").first).to_have_text("Cancelled")
            context.close()
        finally:
            browser.close()
    assert console.unexpected() == []
    assert front.seen
    for request in front.seen:
        assert request.path.startswith("/api/") or request.path == "/api", request
        assert request.invoked and request.status < 400, request
    assert any("after=" in r.path and "/tickets?" in r.path for r in front.seen)
