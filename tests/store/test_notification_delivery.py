"""Delivery from the audit log to real receivers on this machine: in order, at least once,
signed as Standard Webhooks says, retried with backoff, given up after a day, paused on a
410 or on failing for days, and only a user's own tickets' events to that user's target."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from chalicelib.audit.log import AuditFilter
from chalicelib.notifications import delivery
from chalicelib.notifications.addresses import AddressPolicy
from chalicelib.notifications.delivery import deliver_due, retry_delay
from chalicelib.notifications.model import CreatedTarget, CreateTargetRequest
from chalicelib.service.unit_of_work import open_storage
from chalicelib.tickets.model import CreateTicketRequest
from chalicelib.timestamps import utc_now
from tests.helpers import example_ticket
from tests.receivers import Behaviour, Receiver, receiver

LOOPBACK = AddressPolicy(allow_loopback=True)


def add_target(
    db: Path,
    url: str,
    *,
    kind: str = "webhook",
    owner: str = "admin",
    events: list[str] | None = None,
) -> CreatedTarget:
    request = CreateTargetRequest.model_validate({"url": url, "kind": kind, "events": events})
    with open_storage(db) as storage:
        return storage.targets.create(
            request, owner=owner, is_admin=owner == "admin", policy=LOOPBACK
        )


def file_ticket(db: Path, description: str, created_by: str = "alice") -> str:
    body = CreateTicketRequest.model_validate(
        example_ticket(query_context={"tags": [], "description": description})
    )
    with open_storage(db) as storage:
        return storage.tickets.create(body, created_by=created_by).id


def run(db: Path, clock: delivery.Clock = utc_now) -> delivery.RunReport:
    return deliver_due(db, worker="test", policy=LOOPBACK, clock=clock)


def later(hours: float) -> delivery.Clock:
    return lambda: utc_now() + timedelta(hours=hours)


def deliveries(db: Path, target_id: str) -> list[dict[str, Any]]:
    with open_storage(db) as storage:
        found = storage.targets.deliveries(target_id, owner=None)
    return [d.model_dump(mode="json") for d in found.deliveries]


def test_events_arrive_in_order_signed_and_verifiable(db_path: Path) -> None:
    with receiver() as hook:
        target = add_target(db_path, f"{hook.url}/hooks/torrentino")
        ids = [file_ticket(db_path, f"Album {n}") for n in range(5)]
        report = run(db_path)
        got = hook.wait_for(5)
    assert report.delivered == 5 and report.failed == 0
    assert target.secret is not None and target.secret.startswith("whsec_")
    bodies = [request.verify(target.secret) for request in got]  # as a receiver verifies
    assert [body["data"]["ticket_id"] for body in bodies] == ids
    assert [body["event_type"] for body in bodies] == ["ticket_created"] * 5
    assert [r.headers["webhook-id"] for r in got] == [
        f"msg_{target.id}_{body['id']}" for body in bodies
    ]
    assert {r.path for r in got} == {"/hooks/torrentino"}
    with pytest.raises(WebhookVerificationError):  # another secret does not verify
        got[0].verify("whsec_" + "A" * 43 + "=")
    with open_storage(db_path) as storage:  # the body is the event as GET /api/v1/audit shows it
        shown = storage.audit_log.page(delivery_filter(bodies[0]["id"])).events[0]
    assert shown.model_dump(mode="json") == bodies[0]


def delivery_filter(event_id: int) -> AuditFilter:
    return AuditFilter(after=event_id - 1, limit=1)


def test_nothing_is_sent_again_once_delivered_and_a_new_event_follows(db_path: Path) -> None:
    with receiver() as hook:
        add_target(db_path, hook.url)
        file_ticket(db_path, "First")
        run(db_path)
        assert run(db_path).delivered == 0  # nothing new
        file_ticket(db_path, "Second")
        run(db_path)
        got = hook.wait_for(2)
    assert [r.json()["data"]["query_context"]["description"] for r in got] == [
        "First",
        "Second",
    ]


def test_a_500_is_retried_with_the_same_webhook_id_until_it_gets_through(db_path: Path) -> None:
    with receiver(Behaviour(statuses=[500, 500, 200])) as hook:
        target = add_target(db_path, hook.url)
        file_ticket(db_path, "Abbey Road")
        first = run(db_path)
        assert first.failed == 1
        assert run(db_path).failed == 0  # the retry waits for its backoff
        [waiting] = list_targets(db_path)
        assert waiting["failures"] == 1 and "500" in waiting["last_error"]
        assert waiting["next_attempt_at"] is not None
        run(db_path, later(0.01))  # 36 s on: past the first backoff (5 s at most)
        run(db_path, later(0.05))  # 3 min on: past the second (10 s at most)
        got = hook.wait_for(3)
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert len({r.headers["webhook-signature"] for r in got}) >= 1
    [record] = deliveries(db_path, target.id)
    assert record["status"] == "delivered" and record["attempts"] == 3
    assert list_targets(db_path)[0]["failures"] == 0


def list_targets(db: Path) -> list[dict[str, Any]]:
    with open_storage(db) as storage:
        return [t.model_dump(mode="json") for t in storage.targets.list(owner=None).targets]


def test_a_receiver_that_is_down_keeps_the_event_until_it_is_back(db_path: Path) -> None:
    down = Receiver()  # its port, with nothing listening yet
    target = add_target(db_path, down.url)
    file_ticket(db_path, "Kind of Blue")
    assert run(db_path).failed == 1
    [record] = deliveries(db_path, target.id)
    assert record["status"] == "retrying" and "refused" in str(record["last_error"])
    down.start()
    try:
        run(db_path, later(0.01))
        [got] = down.wait_for(1)
    finally:
        down.stop()
    assert got.json()["data"]["query_context"]["description"] == "Kind of Blue"
    assert deliveries(db_path, target.id)[0]["status"] == "delivered"


def test_a_slow_receiver_is_a_failure_and_the_event_is_kept(db_path: Path) -> None:
    with receiver(Behaviour(delay=15.0)) as hook:
        target = add_target(db_path, hook.url)
        file_ticket(db_path, "Slow")
        report = run(db_path)
        [record] = deliveries(db_path, target.id)
    assert report.failed == 1
    assert record["status"] == "retrying" and "in time" in str(record["last_error"])


def test_an_answer_is_read_only_up_to_a_limit_and_redirects_are_not_followed(
    db_path: Path,
) -> None:
    with receiver(Behaviour(body_size=50 * 1024 * 1024)) as huge:
        big = add_target(db_path, huge.url)
        file_ticket(db_path, "Huge answer")
        assert run(db_path).delivered == 1
        # The receiver could not send its 50 MB: the delivery read a few KiB and hung up.
        assert huge.wait_until_write_fails()
    assert deliveries(db_path, big.id)[0]["status"] == "delivered"
    with receiver() as elsewhere:
        moved_to = Behaviour(statuses=[302], headers={"Location": f"{elsewhere.url}/moved"})
        with receiver(moved_to) as moved:
            target = add_target(db_path, moved.url)
            file_ticket(db_path, "Moved")
            run(db_path)
            moved.wait_for(1)
    assert elsewhere.requests == []
    [record] = deliveries(db_path, target.id)
    assert record["status"] == "retrying" and record["response_status"] == 302


def test_a_410_pauses_the_target_and_it_resumes_where_it_stopped(db_path: Path) -> None:
    with receiver(Behaviour(statuses=[410, 200])) as hook:
        target = add_target(db_path, hook.url)
        file_ticket(db_path, "Gone")
        report = run(db_path)
        [paused] = list_targets(db_path)
        file_ticket(db_path, "While paused")
        assert run(db_path, later(2)).delivered == 0
        with open_storage(db_path) as storage:
            storage.targets.resume(target.id, owner=None, actor="admin", skip_missed=False)
        run(db_path)
        got = hook.wait_for(5)
    assert report.paused == 1
    assert paused["state"] == "paused" and "410" in str(paused["paused_reason"])
    assert [r.json()["event_type"] for r in got] == [
        "ticket_created",  # 410
        "ticket_created",  # the same event again, after the resume
        "notification_target_paused",
        "ticket_created",
        "notification_target_resumed",
    ]
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
    assert got[3].json()["data"]["query_context"]["description"] == "While paused"
    assert list_targets(db_path)[0]["state"] == "active"


def test_after_a_day_an_event_is_given_up_recorded_and_the_target_moves_on(
    db_path: Path,
) -> None:
    with receiver(Behaviour(statuses=[503])) as hook:
        target = add_target(db_path, hook.url, events=["ticket_created"])
        file_ticket(db_path, "Never")
        file_ticket(db_path, "Later")
        assert run(db_path).given_up == 0
        report = run(db_path, later(25))  # a day later it still fails: given up
        run(db_path, later(26))  # and the target has moved on to the next event
        got = hook.wait_for(3)
    assert report.given_up == 1
    first, second = (r.json()["id"] for r in (got[0], got[2]))
    assert got[1].json()["id"] == first and second > first
    records = deliveries(db_path, target.id)
    assert [(r["event_id"], r["status"]) for r in records] == [
        (second, "given_up"),
        (first, "given_up"),
    ]
    assert records[1]["attempts"] == 2
    with open_storage(db_path) as storage:
        page = storage.audit_log.page(given_up_filter())
    assert [e.data["event_id"] for e in page.events] == [first, second]
    assert all(e.data["target_id"] == target.id and "503" in e.data["error"] for e in page.events)


def given_up_filter() -> AuditFilter:
    return AuditFilter.model_validate({"event_type": ["notification_given_up"]})


def test_a_target_that_keeps_failing_for_days_is_paused(db_path: Path) -> None:
    with receiver(Behaviour(statuses=[500])) as hook:
        add_target(db_path, hook.url, events=["ticket_created"])
        for n in range(4):
            file_ticket(db_path, f"Doomed {n}")
        for hours in range(25, 40):
            run(db_path, later(hours))
        del hook
    [target] = list_targets(db_path)
    assert target["state"] == "paused"
    assert "could not be delivered for a day" in str(target["paused_reason"])


def test_a_users_target_gets_only_that_users_tickets_events(db_path: Path) -> None:
    with receiver() as bobs:
        add_target(db_path, bobs.url, owner="bob")
        mine = file_ticket(db_path, "Bob's album", created_by="bob")
        file_ticket(db_path, "Alice's album", created_by="alice")
        with open_storage(db_path) as storage:
            storage.tickets.cancel(mine, cancelled_by="bob", reason="changed my mind")
        run(db_path)
        got = bobs.wait_for(2)
        run(db_path)
    assert len(bobs.requests) == 2
    assert {r.json()["data"]["ticket_id"] for r in got} == {mine}
    assert [r.json()["event_type"] for r in got] == ["ticket_created", "ticket_cancelled"]


def test_retry_delays_double_up_to_an_hour_with_jitter() -> None:
    delays = [retry_delay(n) for n in range(1, 20)]
    assert 2.5 <= delays[0] <= 5.0
    assert all(1800.0 <= d <= 3600.0 for d in delays[12:])
    assert len({round(retry_delay(3), 6) for _ in range(20)}) > 1  # jittered
    day = sum(retry_delay(n) for n in range(1, 40))
    assert day > timedelta(hours=10).total_seconds()


def test_two_runs_at_once_never_send_one_event_twice(db_path: Path) -> None:
    with receiver(Behaviour(delay=0.05)) as hook:
        for _ in range(3):
            add_target(db_path, hook.url)
        for n in range(10):
            file_ticket(db_path, f"Race {n}")
        start = threading.Barrier(4)

        def worker(n: int) -> None:
            start.wait()
            for _ in range(5):
                deliver_due(db_path, worker=f"container-{n}", policy=LOOPBACK)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        run(db_path)
    ids = [r.headers["webhook-id"] for r in hook.requests]
    # Each target: the other two targets' creations after its own, and ten tickets.
    assert len(ids) == len(set(ids)) == 3 * 10 + 2 + 1 + 0
