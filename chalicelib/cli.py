"""torrentino's command lines: what they share (`command_parser`), and the notification
targets' (`python -m chalicelib.cli notify ...`, `make notify ARGS=...`).

    python -m chalicelib.cli notify add ntfy://ntfy.example.com/torrentino
    python -m chalicelib.cli notify add https://hooks.example.com/x --kind webhook
    python -m chalicelib.cli notify add ntfy://ntfy.example.com/bob --for bob
    python -m chalicelib.cli notify list
    python -m chalicelib.cli notify test <id>
    python -m chalicelib.cli notify deliveries <id>
    python -m chalicelib.cli notify resume <id> [--skip-missed]
    python -m chalicelib.cli notify remove <id>
    python -m chalicelib.cli notify deliver          # deliver what is due now, once

A target added here gets every event it names, unless `--for USER` makes it that user's,
with that user's tickets' events only. A webhook's signing secret is printed once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from chalicelib import migrations, settings
from chalicelib.audit.events import AuditEventType
from chalicelib.errors import TorrentinoError
from chalicelib.notifications.addresses import AddressPolicy
from chalicelib.notifications.delivery import deliver_due
from chalicelib.notifications.model import CreateTargetRequest, NotificationTarget, TargetKind
from chalicelib.notifications.schedule import worker_name
from chalicelib.storage import open_storage

CLI_OWNER = "admin-cli"


def command_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of `python -m chalicelib.<module>`: its docstring as help, and `--db`."""
    parser = argparse.ArgumentParser(
        prog=f"python -m chalicelib.{module}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", type=Path, help="SQLite file (default: TORRENTINO_DB_PATH)")
    return parser


def _notify_parser() -> argparse.ArgumentParser:
    parser = command_parser("cli", __doc__)
    groups = parser.add_subparsers(dest="group", required=True)
    notify = groups.add_parser("notify", help="notification targets")
    commands = notify.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a target (a webhook's secret is printed once)")
    add.add_argument("url")
    add.add_argument("--kind", choices=[k.value for k in TargetKind], default="apprise")
    add.add_argument(
        "--event",
        action="append",
        choices=[t.value for t in AuditEventType],
        help="an event type to send (repeat it; all when left out)",
    )
    add.add_argument("--for", dest="user", help="a user's target: that user's tickets only")
    commands.add_parser("list", help="every target, masked")
    for name, text in [
        ("test", "send a test notification now"),
        ("deliveries", "a target's recent deliveries"),
        ("remove", "remove a target"),
        ("resume", "deliver to a paused target again"),
    ]:
        command = commands.add_parser(name, help=text)
        command.add_argument("target_id")
        if name == "resume":
            command.add_argument("--skip-missed", action="store_true")
    commands.add_parser("deliver", help="deliver what is due now, once")
    return parser


def _line(target: NotificationTarget) -> str:
    state = target.state + (f" ({target.paused_reason})" if target.paused_reason else "")
    events = ", ".join(target.events) or "all events"
    failing = f", {target.failures} failures: {target.last_error}" if target.failures else ""
    return f"{target.id}  {target.owner:<12} {target.url}  [{events}]  {state}{failing}"


def _run_notify(args: argparse.Namespace, path: Path) -> None:
    migrations.migrate(path)
    if args.command == "deliver":
        print(deliver_due(path, worker=worker_name()).summary())
        return
    policy = AddressPolicy.from_settings()
    with open_storage(path) as storage:
        targets = storage.targets
        if args.command == "add":
            request = CreateTargetRequest(url=args.url, kind=args.kind, events=args.event)
            owner = args.user or CLI_OWNER
            created = targets.create(request, owner=owner, is_admin=not args.user, policy=policy)
            print(f"added {created.service} target {created.id}: {created.url}")
            if created.secret:
                print("Its signing secret is shown only now; give it to the receiver:")
                print(created.secret)
        elif args.command == "list":
            for target in targets.list(owner=None).targets:
                print(_line(target))
        elif args.command == "test":
            sent = targets.send_test(args.target_id, owner=None, policy=policy)
            print(f"test {sent.status}" + (f": {sent.last_error}" if sent.last_error else ""))
        elif args.command == "deliveries":
            for d in targets.deliveries(args.target_id, owner=None).deliveries:
                print(
                    f"{d.last_attempt_at:%Y-%m-%d %H:%M:%S}  event {d.event_id or 'test'}  "
                    f"{d.status}  {d.attempts} attempts  {d.last_error or ''}".rstrip()
                )
        elif args.command == "resume":
            resumed = targets.resume(
                args.target_id, owner=None, actor=CLI_OWNER, skip_missed=args.skip_missed
            )
            print(f"{resumed.id} is {resumed.state}")
        else:
            removed = targets.delete(args.target_id, owner=None, actor=CLI_OWNER)
            print(f"removed {removed.id} ({removed.url})")


def reported(work: Callable[[], None]) -> int:
    """Run a command; a domain error is printed as `error: ...` with exit status 1."""
    try:
        work()
    except TorrentinoError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run a command line; return the exit status."""
    args = _notify_parser().parse_args(argv)
    path: Path = args.db or settings.db_path()
    return reported(lambda: _run_notify(args, path))


if __name__ == "__main__":
    sys.exit(main())
