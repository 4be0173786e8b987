"""Run inside a private network namespace (see `test_commands.py`): bring up loopback,
start the server with `make run` on localhost:8080, run one document's commands with
bash, and stop. Its exit status is the commands' exit status.

Usage: python tests/docs/sandbox.py SCRIPT WORKDIR
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
HEALTH_URL = "http://localhost:8080/api/v1/health"
START_TIMEOUT_SECONDS = 60
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def bring_up_loopback() -> None:
    """`ip link set lo up`, without needing iproute2."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def wait_for_server(server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("make run exited before the server answered")
        try:
            with urllib.request.urlopen(HEALTH_URL, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the server did not answer within {START_TIMEOUT_SECONDS} s")


def main(script: Path, workdir: Path) -> int:
    bring_up_loopback()
    with (workdir / "server.log").open("wb") as log:
        server = subprocess.Popen(
            ["make", "run"],
            cwd=PROJECT_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_server(server)
        return subprocess.run(["bash", str(script)], cwd=PROJECT_DIR, check=False).returncode
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited on its own
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
