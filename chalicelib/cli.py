"""torrentino's command lines, all in one place (the Makefile's targets call them):

    python -m chalicelib.cli keys create alice --role admin   # prints the key, once
    python -m chalicelib.cli keys list | revoke <key id>
    python -m chalicelib.cli backup create [--if-due] | list | verify [FILE ...] | restore FILE
    python -m chalicelib.cli check [PATH]                     # the consistency check
    python -m chalicelib.cli destinations add Movies /media/movies [--tag movie] | list
    python -m chalicelib.cli destinations remove <id>
    python -m chalicelib.cli notify add URL [--kind webhook] [--event TYPE]... [--for USER]
    python -m chalicelib.cli notify list | test ID | deliveries ID | resume ID | remove ID
    python -m chalicelib.cli notify deliver                   # deliver what is due, once

The database is TORRENTINO_DB_PATH (or the default); `--db PATH` overrides it. Backups go
to TORRENTINO_BACKUP_DIR (default: `backups/` beside the database); `--backup-dir`
overrides it. The older `python -m chalicelib.keys`, `chalicelib.backup` and
`chalicelib.check` still work, for scripts and crontabs written for them.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chalicelib import settings
from chalicelib.actors import CLI_ACTOR
from chalicelib.api.parsing import validation_error
from chalicelib.audit.events import AuditEventType
from chalicelib.backups import restore, upgrade
from chalicelib.backups.backup import CreatedBackup, backup_if_due, before_restore, create_backup
from chalicelib.backups.check import check_database
from chalicelib.backups.files import list_backups
from chalicelib.backups.kinds import BackupKind
from chalicelib.backups.snapshot import mib
from chalicelib.destinations import store as destinations
from chalicelib.destinations.store import CreateDestinationRequest
from chalicelib.errors import TorrentinoError
from chalicelib.keys.identity import Role
from chalicelib.keys.store import create_key, list_keys, revoke_key
from chalicelib.notifications.addresses import AddressPolicy
from chalicelib.notifications.delivery import deliver_due
from chalicelib.notifications.model import CreateTargetRequest, NotificationTarget, TargetKind
from chalicelib.notifications.schedule import worker_name
from chalicelib.service.unit_of_work import open_storage
from chalicelib.storage import db, migrations
from chalicelib.timestamps import format_timestamp


def _keys(args: argparse.Namespace) -> int:
    path: Path = args.db or settings.db_path()
    # An older schema is backed up before anything migrates it (`make keys` before the
    # upgraded server has started); keys cannot do this itself: backups import keys.
    upgrade.upgrade(path, create=True)
    if args.command == "create":
        info, key = create_key(path, args.user, Role(args.role))
        print(f"created key {info.id} for {info.user} ({info.role.value}).")
        print("The key is shown only now; store it safely:")
        print(key)
    elif args.command == "list":
        keys = list_keys(path)
        if not keys:
            print("no API keys: the service answers only this machine, without a key")
        for info in keys:
            revoked = (
                f"revoked {format_timestamp(info.revoked_at)}" if info.revoked_at else "active"
            )
            print(
                f"{info.id}  {info.user:<24} {info.role.value:<5}  "
                f"created {format_timestamp(info.created_at)}  {revoked}"
            )
    else:
        info = revoke_key(path, args.key_id)
        print(f"revoked key {info.id} of {info.user}")
    return 0


def _resolve(file: Path, backup_dir: Path) -> Path:
    """A path as given, or the name of a backup in the backup directory."""
    return file if file.exists() or file.parent != Path() else backup_dir / file


def _say_waiting() -> None:
    print("another backup is being taken; waiting for it to finish", file=sys.stderr)


def _print_created(created: CreatedBackup, backup_dir: Path) -> None:
    print(
        f"created {backup_dir / created.name} ({created.tickets} tickets, "
        f"{mib(created.size_bytes)}, verified, {created.duration_seconds:.1f} s)"
    )
    for name in created.removed:
        print(f"retention removed {name}")


def _verify(files: list[Path]) -> int:
    status = 0
    for file in files:
        found = restore.verify_backup(file)
        if found.problems:
            status = 1
            print(f"{file}: REFUSED")
            for problem in found.problems:
                print(f"  {problem}")
            continue
        how = "checksum and check" if found.checksummed else "check only, no manifest"
        print(f"{file}: ok ({found.tickets} tickets, schema {found.schema_version}, {how})")
    return status


def _backup(args: argparse.Namespace) -> int:
    db_path: Path = args.db or settings.db_path()
    backup_dir: Path = args.backup_dir or settings.backup_dir(db_path)
    if args.command == "create":
        created = (
            backup_if_due(db_path, actor=CLI_ACTOR, backup_dir=backup_dir)
            if args.if_due
            else create_backup(
                db_path,
                actor=CLI_ACTOR,
                kind=BackupKind.MANUAL,
                backup_dir=backup_dir,
                wait=math.inf,
                on_wait=_say_waiting,
            )
        )
        if created is None:
            print("no backup due")
        else:
            _print_created(created, backup_dir)
    elif args.command == "list":
        for info in list_backups(backup_dir, db_path.stem):
            state = "verified" if info.verified else f"NOT VERIFIED: {info.problem}"
            tickets = "?" if info.tickets is None else f"{info.tickets:,}"
            print(
                f"{info.name}  {format_timestamp(info.taken_at)}  {info.kind:<14}  "
                f"{mib(info.size_bytes):>12}  {tickets:>9} tickets  {state}"
            )
    elif args.command == "verify":
        files = args.files or [
            backup_dir / info.name for info in list_backups(backup_dir, db_path.stem)
        ]
        return _verify([_resolve(file, backup_dir) for file in files])
    else:
        copies: list[str] = []
        done = restore.restore_backup(
            _resolve(args.file, backup_dir),
            db_path,
            actor=CLI_ACTOR,
            before_replacing=lambda: copies.append(before_restore(db_path, backup_dir)),
        )
        print(
            f"restored {done.backup} into {done.database} ({done.tickets} tickets, schema "
            f"{done.from_schema_version} -> {len(migrations.MIGRATIONS)})"
        )
        for path in done.moved_aside:
            print(f"the database it replaced is kept as {path}")
        for line in [*copies, *done.keys.lines()]:
            print(line)
    return 0


def _check(args: argparse.Namespace) -> int:
    path: Path = args.path or args.db or settings.db_path()
    report = check_database(path)
    for problem in report.problems:
        print(problem)
    if not report.ok:
        print(f"{path}: {len(report.problems)} problem(s) found", file=sys.stderr)
        return 1
    print(f"{path}: ok ({report.tickets} tickets, {report.events} events, integrity ok)")
    return 0


def _destinations(args: argparse.Namespace) -> int:
    path: Path = args.db or settings.db_path()
    migrations.migrate(path)
    with db.connect(path) as conn:
        if args.command == "add":
            fields = {"name": args.name, "root": args.root, "tags": args.tag}
            try:
                request = CreateDestinationRequest.model_validate(fields)
            except ValidationError as error:
                raise validation_error(error, prefix="argument") from None
            added = destinations.add_destination(conn, request, actor=CLI_ACTOR)
            print(f"added {added.name} ({added.root}) as {added.id}")
        elif args.command == "list":
            found = destinations.list_destinations(conn)
            if not found:
                print("no destinations: tickets may go to any absolute path")
            for each in found:
                print(f"{each.id}  {each.name:<24} {each.root}  {' '.join(each.tags)}")
        else:
            removed = destinations.remove_destination(conn, args.id, actor=CLI_ACTOR)
            print(f"removed {removed.name} ({removed.root})")
    return 0


def _target_line(target: NotificationTarget) -> str:
    state = target.state + (f" ({target.paused_reason})" if target.paused_reason else "")
    failing = f", {target.failures} failures: {target.last_error}" if target.failures else ""
    events = ", ".join(target.events) or "all events"
    return f"{target.id}  {target.owner:<12} {target.url}  [{events}]  {state}{failing}"


def _notify(args: argparse.Namespace) -> int:
    path: Path = args.db or settings.db_path()
    migrations.migrate(path)
    if args.command == "deliver":
        print(deliver_due(path, worker=worker_name()).summary())
        return 0
    policy = AddressPolicy.from_settings()
    with open_storage(path) as storage:
        targets = storage.targets
        if args.command == "add":
            fields = {"url": args.url, "kind": args.kind, "events": args.event}
            try:
                request = CreateTargetRequest.model_validate(fields)
            except ValidationError as error:
                raise validation_error(error, prefix="argument") from None
            owner = args.user or CLI_ACTOR  # --for USER: that user's, their tickets only
            added = targets.create(request, owner=owner, is_admin=not args.user, policy=policy)
            print(f"added {added.service} target {added.id}: {added.url}")
            if added.secret:
                print("Its signing secret is shown only now; give it to the receiver:")
                print(added.secret)
        elif args.command == "list":
            for target in targets.list(owner=None).targets:
                print(_target_line(target))
        elif args.command == "test":
            sent = targets.send_test(args.id, owner=None, policy=policy)
            print(f"test {sent.status}" + (f": {sent.last_error}" if sent.last_error else ""))
        elif args.command == "deliveries":
            for each in targets.deliveries(args.id, owner=None).deliveries:
                event = f"event {each.event_id}" if each.event_id else "event test"
                print(
                    f"{format_timestamp(each.last_attempt_at)}  {event}  {each.status}  "
                    f"{each.attempts} attempts  {each.last_error or ''}".rstrip()
                )
        elif args.command == "resume":
            resumed = targets.resume(args.id, owner=None, actor=CLI_ACTOR, skip_missed=args.skip)
            print(f"{resumed.id} is {resumed.state}")
        else:
            removed = targets.delete(args.id, owner=None, actor=CLI_ACTOR)
            print(f"removed {removed.id} ({removed.url})")
    return 0


def _notify_commands(tools: Any) -> None:
    notify = tools.add_parser("notify", help="notification targets (docs/notifications.md)")
    commands = notify.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a target (a webhook's secret is printed once)")
    add.add_argument("url")
    add.add_argument("--kind", choices=[k.value for k in TargetKind], default="apprise")
    add.add_argument("--event", action="append", choices=[t.value for t in AuditEventType])
    add.add_argument("--for", dest="user", help="a user's target: that user's tickets only")
    commands.add_parser("list", help="every target, masked")
    commands.add_parser("deliver", help="deliver what is due now, once")
    for name in ("test", "deliveries", "resume", "remove"):
        command = commands.add_parser(name, help=f"{name} a target by its id")
        command.add_argument("id")
    commands.choices["resume"].add_argument("--skip-missed", dest="skip", action="store_true")


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, help="SQLite file (default: TORRENTINO_DB_PATH)")
    tools = parser.add_subparsers(dest="tool", required=True)

    keys = tools.add_parser("keys", help="create, list and revoke API keys")
    commands = keys.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it once")
    create.add_argument("user")
    create.add_argument("--role", choices=[r.value for r in Role], default=Role.USER.value)
    commands.add_parser("list", help="list keys (never their secrets)")
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")

    backup = tools.add_parser("backup", help="take, list, verify and restore backups")
    backup.add_argument("--backup-dir", type=Path, help="default: TORRENTINO_BACKUP_DIR")
    commands = backup.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="take a backup now")
    create.add_argument("--if-due", action="store_true", help="only if the schedule says so")
    commands.add_parser("list", help="list backups, newest first")
    verify = commands.add_parser("verify", help="re-read and check backups (default: all)")
    verify.add_argument("files", nargs="*", type=Path)
    restore_command = commands.add_parser("restore", help="make a backup the live database")
    restore_command.add_argument("file", type=Path)

    places = tools.add_parser("destinations", help="add, list and remove destinations")
    commands = places.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a destination tickets may go to")
    add.add_argument("name")
    add.add_argument("root")
    add.add_argument("--tag", action="append", default=[], help="a default tag (repeatable)")
    commands.add_parser("list", help="list destinations")
    remove = commands.add_parser("remove", help="remove a destination by its id")
    remove.add_argument("id")

    _notify_commands(tools)
    check = tools.add_parser("check", help="check a database against its audit log")
    check.add_argument("path", nargs="?", type=Path, help="default: --db or TORRENTINO_DB_PATH")
    return parser


TOOLS: dict[str, Callable[[argparse.Namespace], int]] = {
    "keys": _keys,
    "backup": _backup,
    "check": _check,
    "destinations": _destinations,
    "notify": _notify,
}


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m chalicelib.cli") -> int:
    """Run one command line; return its exit status."""
    args = _parser(prog).parse_args(argv)
    try:
        return TOOLS[args.tool](args)
    except TorrentinoError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: {error.strerror or error}: {error.filename}", file=sys.stderr)
        return 1


def legacy(tool: str) -> int:
    """`python -m chalicelib.<tool> ARGS` as it was before the command lines met here:
    `--db` (and `--backup-dir`) may come anywhere."""
    argv = sys.argv[1:]
    db: list[str] = []
    if "--db" in argv:
        at = argv.index("--db")
        db, argv = argv[at : at + 2], argv[:at] + argv[at + 2 :]
    return main([*db, tool, *argv], prog=f"python -m chalicelib.{tool}")


if __name__ == "__main__":
    sys.exit(main())
