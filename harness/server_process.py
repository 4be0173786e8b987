"""Start and stop a real `chalice local` server on a free port: for the HTTP tests and
the benchmarks, each in its own process group, with a database of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

PROJECT_DIR = Path(__file__).resolve().parents[1]
LAUNCHER = [sys.executable, str(PROJECT_DIR / "launcher" / "local_server.py")]
PLAIN_CHALICE_LOCAL = [str(Path(sys.executable).parent / "chalice"), "local", "--no-autoreload"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """One server process (in its own process group) on a free loopback port."""

    def __init__(
        self,
        db_path: Path,
        *,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
        pass_db_path: bool = True,
        log_path: Path | None = None,
    ) -> None:
        """`db_path` is passed as TORRENTINO_DB_PATH unless `pass_db_path` is false."""
        self.db_path = db_path
        self.command = command or LAUNCHER
        self.extra_env = env or {}
        self.pass_db_path = pass_db_path
        self.log_path = log_path or db_path.parent / f"{db_path.name}.server.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        self.port = free_port()
        # No scheduled backups unless a test asks for them: they would add audit events
        # and load at moments a test does not choose. Nor notifications (neither delivery nor
        # a test sent now): a target no test chose (schemathesis makes them) is never sent to.
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "TORRENTINO_BACKUP_EVERY_HOURS": "0",
            "TORRENTINO_NOTIFY_DELIVERY": "0",
            **self.extra_env,
        }
        env.pop("TORRENTINO_DB_PATH", None)
        if self.pass_db_path:
            env["TORRENTINO_DB_PATH"] = str(self.db_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*self.command, "--port", str(self.port)],
            cwd=PROJECT_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                requests.get(f"{self.url}/api/v1/health", timeout=2)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer in {timeout}s:\n{self.log_path.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def thread_count(self) -> int:
        """How many threads the server process runs now, from /proc."""
        assert self.process is not None
        return len(list(Path(f"/proc/{self.process.pid}/task").iterdir()))

    def fd_count(self) -> int:
        """How many file descriptors the server process holds open now, from /proc."""
        assert self.process is not None
        return len(list(Path(f"/proc/{self.process.pid}/fd").iterdir()))

    def memory_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS) of the server process in MiB, from /proc."""
        assert self.process is not None
        fields = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            fields[name] = value.strip()
        return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)

    def reset_peak_memory(self) -> None:
        """Start the peak RSS (VmHWM) over from the current RSS (Linux's clear_refs)."""
        assert self.process is not None
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
