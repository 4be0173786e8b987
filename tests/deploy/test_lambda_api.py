"""The packaged zip, run as Lambda runs it behind API Gateway (harness/lambda_harness.py): the
seed's walkthrough, the error cases, repeated query parameters, and every link followed,
behind the stage prefix, behind a custom domain, and at a custom domain's base path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.lambda_harness import ApiGateway, Container, GatewayResponse, Package
from tests.deploy.conftest import FIRST_ADMIN, StartContainer, create_first_key
from tests.helpers import example_ticket

JSON = {"Content-Type": "application/json"}
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def tree(directory: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(directory)), p.stat().st_mode, p.stat().st_size)
        for p in directory.rglob("*")
    )


def test_the_function_sees_only_the_package_and_the_standard_library(
    package: Package, start_container: StartContainer
) -> None:
    before = tree(package.task_dir)
    container = start_container()
    ready = container.ready
    assert ready["flags"] == {"isolated": 1, "no_site": 1}
    assert ready["writable"] == {"task": False, "home": False, "tmp": True}  # as on Lambda
    assert ready["sys_path"][0] == str(package.task_dir)
    assert not [p for p in ready["sys_path"] if "site-packages" in p or ".venv" in p]
    for module in ("chalice.app", "pydantic", "pydantic_core", "chalicelib"):
        assert ready["modules"][module].startswith(str(package.task_dir)), module
    gateway = ApiGateway.execute_api(package, container, api_key=create_first_key(start_container))
    created = gateway.request("POST", gateway.url("/api/v1/tickets"), json_body=example_ticket())
    assert created.status == 201, created.body
    assert gateway.request("GET", gateway.url("/api/v1/tickets")).status == 200
    assert container.modules_outside_the_package() == []
    # Nothing was written into the read-only code directory or the unwritable HOME.
    assert tree(package.task_dir) == before
    assert list((container.workdir / "home").iterdir()) == []


def test_the_seed_walkthrough_behind_the_stage_prefix(gateway: ApiGateway) -> None:
    # 2. Create a ticket
    created = gateway.request(
        "POST",
        gateway.url("/api/v1/tickets"),
        headers=JSON,
        body="""{
            "priority": 100,
            "query_context": {
              "tags": ["music", "flac"],
              "description": "Abbey Road by The Beatles"
            },
            "dest_path": "/media/music/beatles"
        }""",
    )
    assert created.status == 201, created.body
    ticket = created.json()
    assert ticket["state"] == "pending" and ticket["created_by"] == FIRST_ADMIN
    location = created.header("Location")
    assert location == f"/api/api/v1/tickets/{ticket['id']}"  # the stage, then the route
    # 3. Get the ticket, where Location says it is
    fetched = gateway.request("GET", location)
    assert fetched.status == 200 and fetched.json() == ticket
    assert fetched.header("ETag") == f'"{ticket["created_at"]}"'
    # 4. List all tickets
    listed = gateway.request("GET", gateway.url("/api/v1/tickets?limit=10"))
    assert listed.json() == {
        "tickets": [ticket],
        "total": 1,
        "limit": 10,
        "offset": 0,
        "next": None,
    }
    # 5. List pending tickets only
    pending = gateway.request("GET", gateway.url("/api/v1/tickets?state=pending"))
    assert [t["id"] for t in pending.json()["tickets"]] == [ticket["id"]]
    # 6. Cancel the ticket
    cancelled = gateway.request(
        "DELETE", location, headers=JSON, json_body={"reason": "Testing cancellation"}
    )
    assert cancelled.status == 200, cancelled.body
    assert cancelled.json()["state"]["cancelled"]["reason"] == "Testing cancellation"
    # 7. Verify audit log
    for event_type in ("ticket_created", "ticket_cancelled"):
        audit = gateway.request("GET", gateway.url(f"/api/v1/audit?event_type={event_type}"))
        assert [e["data"]["ticket_id"] for e in audit.json()["events"]] == [ticket["id"]]
    # 8. Try to cancel again (should fail with 409)
    again = gateway.request("DELETE", location)
    assert again.status == 409
    assert again.json()["error"]["code"] == "invalid_transition"


@pytest.fixture(scope="module")
def shared_gateway(
    package: Package, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiGateway]:
    """One warm container for the error cases, which change nothing."""
    workdir = tmp_path_factory.mktemp("errors")
    (workdir / "efs").mkdir()
    keys = Container(package, "Keys", mount_dir=workdir / "efs", workdir=workdir / "keys")
    with keys:
        created = keys.invoke({"command": "create", "user": FIRST_ADMIN, "role": "admin"})
    container = Container(package, "APIHandler", mount_dir=workdir / "efs", workdir=workdir)
    with container:
        yield ApiGateway.execute_api(package, container, api_key=created["result"]["key"])


def assert_error(response: GatewayResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, response.body
    assert response.header("Content-Type") == "application/json"
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code and error["message"]
    return error


@pytest.mark.parametrize(
    "case",
    [
        ("POST", "/api/v1/tickets", {"json_body": {"priority": "high"}}, 400, "invalid_input"),
        ("POST", "/api/v1/tickets", {"headers": JSON, "body": "{not json"}, 400, "invalid_input"),
        ("POST", "/api/v1/tickets", {"body": "x", "headers": {"Content-Type": "text/plain"}},
         415, "unsupported_media_type"),
        ("POST", "/api/v1/tickets", {"headers": JSON, "body": " " * (1024 * 1024 + 1)},
         413, "payload_too_large"),
        ("GET", f"/api/v1/tickets/{UNKNOWN_ID}", {}, 404, "ticket_not_found"),
        ("DELETE", f"/api/v1/tickets/{UNKNOWN_ID}", {}, 404, "ticket_not_found"),
        ("GET", "/api/v1/tickets?limit=0", {}, 400, "invalid_input"),
        ("GET", "/api/v1/tickets?colour=red", {}, 400, "invalid_input"),
        ("GET", "/api/v1/tickets?limit=1&limit=2", {}, 400, "invalid_input"),
        ("GET", "/api/v1/audit?after=-1", {}, 400, "invalid_input"),
        ("POST", f"/api/v1/tickets/{UNKNOWN_ID}/fail", {"json_body": {}}, 400, "invalid_input"),
        # API Gateway's own answers: a route or a method the API does not have never
        # reaches the function (a 404 in our shape, from the template's gateway responses;
        # `make run` answers a wrong method with 405), nor does a body over its 10 MB.
        ("GET", "/api/v1/nowhere", {}, 404, "route_not_found"),
        ("PUT", "/api/v1/tickets", {"json_body": {}}, 404, "route_not_found"),
        ("POST", "/api/v1/tickets", {"headers": JSON, "body": " " * (10 * 1024 * 1024 + 1)},
         413, "gateway_refused"),
    ],
)  # fmt: skip
def test_error_cases_answer_the_api_error_shape(
    shared_gateway: ApiGateway, case: tuple[str, str, dict[str, Any], int, str]
) -> None:
    gateway = shared_gateway
    method, path, kwargs, status, code = case
    before = gateway.request("GET", gateway.url("/api/v1/audit?limit=1")).json()["total"]
    assert_error(gateway.request(method, gateway.url(path), **kwargs), status, code)
    after = gateway.request("GET", gateway.url("/api/v1/audit?limit=1")).json()["total"]
    assert after == before  # and nothing changed: no event, so no ticket either


def test_a_deployment_without_a_key_serves_no_one(
    package: Package, start_container: StartContainer
) -> None:
    # Behind API Gateway every caller is another machine: until the first key exists the
    # API answers 401 saying how to make one, and changes nothing.
    gateway = ApiGateway.execute_api(package, start_container())
    refused = gateway.request("POST", gateway.url("/api/v1/tickets"), json_body=example_ticket())
    error = assert_error(refused, 401, "unauthorized")
    assert "create the first key" in error["message"]
    assert gateway.request("GET", gateway.url("/api/v1/health")).status == 200
    key = create_first_key(start_container)
    served = gateway.request(
        "GET", gateway.url("/api/v1/tickets"), headers={"X-Api-Key": key}
    ).json()
    assert served["total"] == 0


def test_repeated_query_parameters_arrive_whole(gateway: ApiGateway) -> None:
    ids = {}
    for tags in (["music", "flac"], ["music"], ["film"]):
        body = example_ticket(query_context={"tags": tags, "description": "x"})
        ids[tuple(tags)] = gateway.request("POST", gateway.url("/api/v1/tickets"), json_body=body)
    first = ids[("music", "flac")].json()["id"]
    gateway.request("DELETE", gateway.url(f"/api/v1/tickets/{first}"))
    both_tags = gateway.request("GET", gateway.url("/api/v1/tickets?tag=music&tag=flac"))
    assert [t["id"] for t in both_tags.json()["tickets"]] == [first]
    states = gateway.request("GET", gateway.url("/api/v1/tickets?state=pending&state=cancelled"))
    assert states.json()["total"] == 3
    pending = gateway.request("GET", gateway.url("/api/v1/tickets?state=pending"))
    assert pending.json()["total"] == 2
    # API Gateway sends both forms; Chalice reads the multi-value one.
    event = gateway.requests[-2]
    assert event["multiValueQueryStringParameters"] == {"state": ["pending", "cancelled"]}
    assert event["queryStringParameters"] == {"state": "cancelled"}


def follow_pages(gateway: ApiGateway, first: str, key: str, prefix: str) -> list[Any]:
    """Every item of a listing, following `next` (and checking `Link`) to the end."""
    items: list[Any] = []
    url: str | None = first
    while url is not None:
        assert url.startswith(f"{prefix}/api/v1/"), url
        page = gateway.request("GET", url)
        assert page.status == 200, page.body
        items.extend(page.json()[key])
        url = page.json()["next"]
        link = page.header("Link")
        assert link == (f'<{url}>; rel="next"' if url else None)
    return items


@pytest.mark.parametrize("where", ["stage prefix", "custom domain", "custom domain base path"])
def test_every_location_and_next_link_leads_where_it_says(
    package: Package, start_container: StartContainer, where: str
) -> None:
    key = create_first_key(start_container)
    container = start_container()
    gateway = {
        "stage prefix": lambda: ApiGateway.execute_api(package, container, key),
        "custom domain": lambda: ApiGateway.custom_domain(package, container, api_key=key),
        "custom domain base path": lambda: ApiGateway.custom_domain(package, container, "tr", key),
    }[where]()
    prefix = {"stage prefix": "/api", "custom domain": "", "custom domain base path": "/tr"}[where]
    created = []
    for priority in range(7):
        response = gateway.request(
            "POST", gateway.url("/api/v1/tickets"), json_body=example_ticket(priority=priority)
        )
        location = response.header("Location")
        assert location == f"{prefix}/api/v1/tickets/{response.json()['id']}"
        assert gateway.request("GET", location).json() == response.json()
        created.append(response.json())
    tickets = follow_pages(
        gateway, gateway.url("/api/v1/tickets?limit=3&state=pending"), "tickets", prefix
    )
    assert [t["id"] for t in tickets] == [t["id"] for t in reversed(created)]  # queue order
    events = follow_pages(gateway, gateway.url("/api/v1/audit?limit=2"), "events", prefix)
    assert [e["event_type"] for e in events] == [
        "service_started",  # the keys function's container
        "api_key_created",
        "service_started",  # the API's
        *["ticket_created"] * 7,
    ]
    document = gateway.request("GET", gateway.url("/api/v1/openapi.json")).json()
    assert document["servers"] == [{"url": f"{prefix}/"}]


def test_a_link_without_the_stage_does_not_reach_the_api(gateway: ApiGateway) -> None:
    """Why the prefix matters: behind API Gateway's own URL a bare /api/v1/... is unknown."""
    created = gateway.request("POST", gateway.url("/api/v1/tickets"), json_body=example_ticket())
    bare = f"/api/v1/tickets/{created.json()['id']}"
    response = gateway.request("GET", bare)
    assert not response.invoked
    assert response.status == 404
