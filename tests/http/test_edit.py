"""Editing over real HTTP (the launcher `make run` starts): a merge patch as clients send
it, concurrent edits that race on one version, retries that apply once, and a database
that still passes the consistency check."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from chalicelib.backups.check import check_database
from harness.server_process import Server
from tests.helpers import example_ticket

WORKERS = 16


def create(server: Server, **overrides: Any) -> tuple[dict[str, Any], str]:
    response = requests.post(
        f"{server.url}/api/v1/tickets", json=example_ticket(**overrides), timeout=10
    )
    assert response.status_code == 201
    return response.json(), response.headers["ETag"]


def patch(server: Server, ticket_id: str, body: Any, **headers: str) -> requests.Response:
    return requests.patch(
        f"{server.url}/api/v1/tickets/{ticket_id}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/merge-patch+json", **headers},
        timeout=60,
    )


def test_a_merge_patch_with_a_charset_edits_the_ticket(server: Server) -> None:
    ticket, etag = create(server)
    response = requests.patch(
        f"{server.url}/api/v1/tickets/{ticket['id']}",
        data=json.dumps({"query_context": {"description": "Abbey Road, 2019 mix — déjà"}}),
        headers={
            "Content-Type": "application/merge-patch+json; charset=utf-8",
            "If-Match": etag,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["query_context"]["description"] == "Abbey Road, 2019 mix — déjà"
    assert response.headers["ETag"] != etag
    read = requests.get(f"{server.url}/api/v1/tickets/{ticket['id']}", timeout=10)
    assert read.headers["ETag"] == response.headers["ETag"]


def test_concurrent_edits_of_one_version_succeed_exactly_once(server: Server) -> None:
    ticket, etag = create(server)

    def edit(n: int) -> int:
        return patch(server, ticket["id"], {"priority": 1000 + n}, **{"If-Match": etag}).status_code

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = list(pool.map(edit, range(40)))
    assert statuses.count(200) == 1
    assert statuses.count(412) == 39
    events = requests.get(
        f"{server.url}/api/v1/audit?event_type=ticket_updated&ticket_id={ticket['id']}",
        timeout=10,
    ).json()
    assert events["total"] == 1
    winner = events["events"][0]["data"]["changes"]["priority"]["new"]
    read = requests.get(f"{server.url}/api/v1/tickets/{ticket['id']}", timeout=10).json()
    assert read["priority"] == winner


def test_concurrent_retries_with_one_idempotency_key_apply_once(server: Server) -> None:
    ticket, _ = create(server)

    def edit(_: int) -> tuple[int, str]:
        response = patch(
            server, ticket["id"], {"priority": 4343}, **{"Idempotency-Key": "edit-retry-1"}
        )
        return response.status_code, response.headers.get("ETag", "")

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(edit, range(32)))
    assert {status for status, _ in results} == {200}
    assert len({etag for _, etag in results}) == 1
    events = requests.get(
        f"{server.url}/api/v1/audit?event_type=ticket_updated&ticket_id={ticket['id']}",
        timeout=10,
    ).json()
    assert events["total"] == 1


def test_edits_mixed_with_cancels_leave_a_consistent_database(fresh_server: Server) -> None:
    tickets = [create(fresh_server, priority=n)[0]["id"] for n in range(20)]

    def work(n: int) -> int:
        ticket_id = tickets[n % len(tickets)]
        if n < 5:  # the first five tickets are cancelled while others edit them
            url = f"{fresh_server.url}/api/v1/tickets/{ticket_id}"
            return requests.delete(url, timeout=60).status_code
        body = {"priority": n, "query_context": {"tags": [f"t{n % 3}", "music"]}}
        return patch(fresh_server, ticket_id, body).status_code

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = list(pool.map(work, range(200)))
    assert statuses[:5] == [200] * 5
    assert {statuses[n] for n in range(5, 200) if n % len(tickets) < 5} <= {200, 409}
    assert {statuses[n] for n in range(5, 200) if n % len(tickets) >= 5} == {200}
    tagged = requests.get(f"{fresh_server.url}/api/v1/tickets?tag=t1&limit=1000", timeout=10)
    pending = requests.get(
        f"{fresh_server.url}/api/v1/tickets?state=pending&limit=1000", timeout=10
    ).json()
    for found in tagged.json()["tickets"]:
        assert "t1" in found["query_context"]["tags"]
    assert pending["total"] == len(pending["tickets"])
    report = check_database(fresh_server.db_path)
    assert report.problems == []
