"""Another "machine" for tests that need a client address other than this machine's: a
network namespace joined to this one by a veth pair on a /30 of 198.18.0.0/15 (set aside
for benchmarking, RFC 2544, routed nowhere). Its requests reach a server as they would
from the LAN: over this machine's address on that link, from an address that is not
loopback. Needs root (and iproute2's `ip`), as CI has.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

PATIENCE = 30.0  # seconds: the most a request from the other machine may take
CLIENT = """
import json, sys, urllib.error, urllib.request
method, url, body, headers = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
request = urllib.request.Request(url, data=body.encode() or None, method=method, headers=headers)
try:
    with urllib.request.urlopen(request, timeout=30) as response:
        status, data = response.status, response.read()
except urllib.error.HTTPError as error:
    status, data = error.code, error.read()
print(json.dumps({"status": status, "body": json.loads(data)}))
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=PATIENCE)


@dataclass(frozen=True)
class OtherMachine:
    """A network namespace that reaches this machine at `server_address`."""

    namespace: str
    server_address: str
    own_address: str

    def command(self, *args: str) -> list[str]:
        """`args` as a command line that runs inside the namespace."""
        return ["ip", "netns", "exec", self.namespace, *args]

    def request(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, JSON body) of one request made from inside the namespace."""
        sent_headers = json.dumps({"Content-Type": "application/json", **(headers or {})})
        sent_body = json.dumps(body) if body is not None else ""
        client = [sys.executable, "-c", CLIENT, method, url, sent_body, sent_headers]
        done = subprocess.run(
            self.command(*client),
            check=True,
            capture_output=True,
            text=True,
            timeout=2 * PATIENCE,
        )
        reply = json.loads(done.stdout)
        return reply["status"], reply["body"]


@contextlib.contextmanager
def other_machine() -> Iterator[OtherMachine]:
    """A namespace of this process's own, deleted (with its link) on the way out."""
    tag = f"trn{os.getpid() % 100_000}"  # names of this run's own; interfaces take 15 chars
    link = ipaddress.ip_network("198.18.0.0/15").network_address + 4 * (os.getpid() % 32_768)
    here, there = str(link + 1), str(link + 2)
    try:
        ip("netns", "add", tag)
        ip("link", "add", f"{tag}h", "type", "veth", "peer", "name", f"{tag}o")
        ip("link", "set", f"{tag}o", "netns", tag)
        ip("addr", "add", f"{here}/30", "dev", f"{tag}h")
        ip("link", "set", f"{tag}h", "up")
        ip("-n", tag, "addr", "add", f"{there}/30", "dev", f"{tag}o")
        ip("-n", tag, "link", "set", f"{tag}o", "up")
        yield OtherMachine(tag, here, there)
    finally:
        # Deleting the namespace deletes its end of the pair, and so the pair.
        subprocess.run(["ip", "netns", "del", tag], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", f"{tag}h"], capture_output=True, check=False)
