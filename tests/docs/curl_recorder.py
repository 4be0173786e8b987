"""Stands in for `curl` on the PATH while the docs' commands run: runs the real curl with
the same arguments, passes its output through unchanged, and records the HTTP status.

It also fills the seed's `{id}` placeholder with the id of the ticket most recently
created (a 201 answer to POST /api/v1/tickets) in the same document: the one
substitution the docs test allows.

Environment: DOCS_REAL_CURL (the real curl), DOCS_CURL_RECORDS (a JSON-lines file).
Standard library only: it runs with `python -I`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PLACEHOLDER = "{id}"
_MARK = b"\n@@docs-curl-status@@"


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _created_id(output: bytes) -> str | None:
    body = output.rsplit(b"\r\n\r\n", 1)[-1]  # the body, after any headers (-i)
    try:
        ticket = json.loads(body)
    except ValueError:
        return None
    if not (isinstance(ticket, dict) and "state" in ticket):
        return None
    ticket_id = ticket.get("id")
    return ticket_id if isinstance(ticket_id, str) else None


def main(argv: list[str]) -> int:
    records_file = Path(os.environ["DOCS_CURL_RECORDS"])
    created = [r["created"] for r in _records(records_file) if r.get("created")]
    args = [arg.replace(PLACEHOLDER, created[-1]) for arg in argv] if created else argv
    result = subprocess.run(
        # --no-progress-meter: curl writing into a pipe would draw one on stderr.
        [
            os.environ["DOCS_REAL_CURL"],
            *args,
            "--no-progress-meter",
            "--write-out",
            _MARK.decode() + "%{http_code}",
        ],
        stdout=subprocess.PIPE,
        check=False,
    )
    output, found, status = result.stdout.rpartition(_MARK)
    if not found:  # curl stopped before its --write-out
        output, status = result.stdout, b""
    sys.stdout.buffer.write(output)
    sys.stdout.flush()
    record: dict[str, Any] = {"args": args, "status": status.decode(), "exit": result.returncode}
    if status == b"201" and any(arg.rstrip("/").endswith("/api/v1/tickets") for arg in args):
        record["created"] = _created_id(output)
    with records_file.open("a") as records:
        records.write(json.dumps(record) + "\n")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
