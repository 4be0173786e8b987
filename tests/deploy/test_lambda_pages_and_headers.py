"""Behind API Gateway, as Lambda runs the package (harness/lambda_harness.py, which
refuses a response over Lambda's 6 MB as Lambda does): a page of the largest tickets or
events fits, with `next` for the rest; and the headers of issue 19 come through, on the
function's answers and on API Gateway's own (the template's gateway responses)."""

from __future__ import annotations

from urllib.parse import quote

from harness.lambda_harness import LAMBDA_RESPONSE_LIMIT, ApiGateway
from tests.helpers import LARGEST_TAG, LARGEST_TEXT, largest_ticket

TICKETS = 60  # unbounded, one page of them, or of their creations, would be over 6 MB


def test_pages_of_the_largest_items_fit_a_lambda_response(gateway: ApiGateway) -> None:
    for number in range(TICKETS):
        created = gateway.request(
            "POST", gateway.url("/api/v1/tickets"), json_body=largest_ticket(number)
        )
        assert created.status == 201, created.body[:300]
        if number % 2:
            failed = gateway.request(
                "POST",
                gateway.url(f"/api/v1/tickets/{created.json()['id']}/fail"),
                json_body={"error": LARGEST_TEXT},
            )
            assert failed.status == 200
    for path, items, total in (
        (f"/api/v1/tickets?limit=1000&tag={quote(LARGEST_TAG)}", "tickets", TICKETS),
        ("/api/v1/audit?limit=1000&event_type=ticket_created", "events", TICKETS),
    ):
        listed: list[str] = []
        sizes: list[int] = []
        url: str | None = gateway.url(path)
        while url is not None:
            page = gateway.request("GET", url)
            assert page.status == 200, page.body[:300]
            sizes.append(len(page.body.encode()))
            listed += [item["id"] for item in page.json()[items]]
            url = page.json()["next"]
        assert len(listed) == len(set(listed)) == total
        assert max(sizes) < LAMBDA_RESPONSE_LIMIT // 4
        assert sum(sizes) > LAMBDA_RESPONSE_LIMIT  # what one page of them all would be


def test_answers_behind_api_gateway_carry_the_headers(gateway: ApiGateway) -> None:
    from_the_function = {
        "200": gateway.request("GET", gateway.url("/api/v1/tickets")),
        "401": gateway.request("GET", gateway.url("/api/v1/me"), headers={"X-Api-Key": "no"}),
    }
    for status, answer in from_the_function.items():
        assert answer.status == int(status) and answer.invoked
        assert answer.header("Cache-Control") == "no-store", status
        assert answer.header("X-Content-Type-Options") == "nosniff", status
    from_api_gateway = {
        "404": gateway.request("GET", gateway.url("/api/v1/nowhere")),
        "413": gateway.request(
            "POST", gateway.url("/api/v1/tickets"), body=" " * (10 * 1024 * 1024 + 1)
        ),
    }
    for status, answer in from_api_gateway.items():
        assert answer.status == int(status) and not answer.invoked
        assert answer.header("X-Content-Type-Options") == "nosniff", status
