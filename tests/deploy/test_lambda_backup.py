"""The daily backup of a Lambda deployment: the `ScheduledBackup` function, invoked as
EventBridge invokes it, takes a verified backup onto the shared file system (in the EFS
stage's rollback journal), records it, and takes none when the newest is not a day old."""

from __future__ import annotations

from pathlib import Path

from chalicelib.backups.check import check_database
from chalicelib.backups.files import list_backups
from harness.lambda_harness import ApiGateway
from tests.deploy.conftest import StartContainer
from tests.helpers import example_ticket

# What EventBridge sends a function on a schedule (`@app.schedule`).
SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-27T03:00:00Z",
    "region": "eu-west-1",
    "resources": ["arn:aws:events:eu-west-1:123456789012:rule/torrentino-ScheduledBackup"],
    "detail": {},
}


def test_the_scheduled_function_backs_up_the_shared_database_once_a_day(
    gateway: ApiGateway, start_container: StartContainer, efs: Path
) -> None:
    tickets = gateway.url("/api/v1/tickets")
    filed = [gateway.request("POST", tickets, json_body=example_ticket()) for _ in range(3)]
    assert [answer.status for answer in filed] == [201] * 3
    scheduler = start_container("ScheduledBackup")
    assert scheduler.handler == "app.scheduled_backup"

    first = scheduler.invoke(SCHEDULED_EVENT)
    again = scheduler.invoke(SCHEDULED_EVENT)

    assert "error" not in first, first
    name = first["result"]["backup"]
    assert again["result"] == {"backup": None}  # the newest is not a day old
    [database] = efs.glob("*.db")
    assert not Path(f"{database}-wal").exists()  # the EFS stage's rollback journal
    [info] = list_backups(efs / "backups", database.stem)
    assert info.name == name and info.verified and info.tickets == 3
    report = check_database(efs / "backups" / name)
    assert report.ok and report.tickets == 3, report.problems
    audit = gateway.request("GET", gateway.url("/api/v1/audit?event_type=backup_created"))
    [event] = audit.json()["events"]
    assert event["data"]["file"] == name and event["data"]["tickets"] == 3
