"""Notifications on Lambda: the packaged `ScheduledNotifications` function, invoked as
EventBridge invokes it every minute, in several containers at once on the shared
(rollback-journal) database, delivers each event to each target once, in order, signed."""

from __future__ import annotations

import threading
from typing import Any

from harness.lambda_harness import ApiGateway, Package
from tests.deploy.conftest import StartContainer, create_first_key
from tests.deploy.test_lambda_backup import SCHEDULED_EVENT
from tests.helpers import example_ticket
from tests.receivers import receiver

CONTAINERS = 3
ROUNDS = 3
LOOPBACK = {"TORRENTINO_NOTIFY_ALLOW_LOOPBACK": "1"}  # the receivers are on this machine


def invoke_together(containers: list[Any]) -> list[dict[str, Any]]:
    """One scheduled invocation of each container, all at once."""
    answers: list[dict[str, Any]] = []
    start = threading.Barrier(len(containers))

    def invoke(container: Any) -> None:
        start.wait(timeout=60)
        answers.append(container.invoke(SCHEDULED_EVENT))

    threads = [threading.Thread(target=invoke, args=(c,)) for c in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return answers


def test_scheduled_containers_at_once_deliver_each_event_once(
    package: Package, start_container: StartContainer
) -> None:
    key = create_first_key(start_container)
    api = start_container(name="api", extra_env=LOOPBACK)
    gateway = ApiGateway.execute_api(package, api, api_key=key)
    schedulers = [
        start_container("ScheduledNotifications", name=f"notify-{n}", extra_env=LOOPBACK)
        for n in range(CONTAINERS)
    ]
    assert schedulers[0].handler == "app.scheduled_notifications"
    targets = gateway.url("/api/v1/notification-targets")
    with receiver() as one, receiver() as two:
        secrets = {}
        for hook in (one, two):
            created = gateway.request(
                "POST",
                targets,
                json_body={"url": f"http://localhost:{hook.port}/h", "kind": "webhook"},
            )
            assert created.status == 201, created.body
            secrets[hook.port] = created.json()["secret"]
        filed = [
            gateway.request("POST", gateway.url("/api/v1/tickets"), json_body=example_ticket())
            for _ in range(8)
        ]
        assert {answer.status for answer in filed} == {201}
        answers = [a for _ in range(ROUNDS) for a in invoke_together(schedulers)]
        assert all("error" not in answer for answer in answers), answers
        delivered = sum(answer["result"]["delivered"] for answer in answers)
        for hook in (one, two):
            got = hook.wait_for(8)
            ids = [request.headers["webhook-id"] for request in got]
            assert len(ids) == len(set(ids)), ids  # never one event twice
            events = [request.verify(secrets[hook.port]) for request in got]
            tickets = [
                e["data"]["ticket_id"] for e in events if e["event_type"] == "ticket_created"
            ]
            assert tickets == [answer.json()["id"] for answer in filed]  # all, in order
    assert delivered == len(one.requests) + len(two.requests)
