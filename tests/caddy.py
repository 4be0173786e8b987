"""A real Caddy (Debian's `caddy` package, which `make test` installs) in front of a real
server, configured with the very site blocks docs/security.md gives.

Each documented block serves `media.example` from `127.0.0.1:8080`; the one change made
here is plain HTTP on a free port for the first and the server's own port for the second.
Caddy's admin endpoint is turned off (a global option), so that Caddys of other test runs
on this machine do not compete for its port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.server_process import PROJECT_DIR, Server, free_port
from tests.docs.markdown import code_blocks

SECURITY_DOC = PROJECT_DIR / "docs" / "security.md"
MOUNTS = {"root": "", "subpath": "/torrentino"}  # each documented block's path prefix
DOCUMENTED_SITE = "media.example"
DOCUMENTED_UPSTREAM = "127.0.0.1:8080"
TRUST_THIS_MACHINE = {"TORRENTINO_TRUSTED_PROXIES": "127.0.0.1"}  # as the doc says to set
PATIENCE = 30.0


def documented_site_block(mount: str) -> str:
    """The `caddyfile` block of docs/security.md for `mount` (a key of `MOUNTS`)."""
    blocks = [b.text for b in code_blocks(SECURITY_DOC.read_text()) if b.language == "caddyfile"]
    assert len(blocks) == 2, "docs/security.md gives two Caddy site blocks: root and a path"
    (block,) = [b for b in blocks if ("handle_path" in b) == (mount == "subpath")]
    return block


def caddyfile(mount: str, port: int, upstream_port: int) -> str:
    """The documented site block for `mount`, on plain HTTP `port`, to `upstream_port`."""
    block = documented_site_block(mount)
    assert block.count(DOCUMENTED_SITE) == 1 and block.count(DOCUMENTED_UPSTREAM) == 1, block
    block = block.replace(DOCUMENTED_SITE, f"http://:{port}")
    block = block.replace(DOCUMENTED_UPSTREAM, f"127.0.0.1:{upstream_port}")
    return "{\n\tadmin off\n}\n\n" + block


@dataclass(frozen=True)
class Proxied:
    """A server behind Caddy: `url` is where a client reaches the server's root."""

    server: Server
    port: int
    prefix: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def url_from(self, address: str) -> str:
        """The same, for a client that reaches this machine at `address`."""
        return f"http://{address}:{self.port}{self.prefix}"


@contextlib.contextmanager
def caddy_in_front(server: Server, mount: str, workdir: Path) -> Iterator[Proxied]:
    """Caddy serving `server` as docs/security.md says for `mount`, on every address of
    this machine (so that another network namespace reaches it too), until the end."""
    caddy = shutil.which("caddy")
    assert caddy, "Caddy is missing: `make test` installs it (apt-get install caddy)"
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "Caddyfile"
    config.write_text(caddyfile(mount, port, server.port))
    env = {
        **os.environ,
        "HOME": str(workdir),
        "XDG_CONFIG_HOME": str(workdir / "config"),
        "XDG_DATA_HOME": str(workdir / "data"),
    }
    with (workdir / "caddy.log").open("ab") as log:
        process = subprocess.Popen(
            [caddy, "run", "--config", str(config), "--adapter", "caddyfile"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + PATIENCE
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"caddy exited:\n{(workdir / 'caddy.log').read_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"caddy did not listen:\n{(workdir / 'caddy.log').read_text()}")
            time.sleep(0.05)
        yield Proxied(server, port, MOUNTS[mount])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=PATIENCE)


@contextlib.contextmanager
def behind_caddy(workdir: Path, mount: str, env: dict[str, str] | None = None) -> Iterator[Proxied]:
    """A server on an empty database in `workdir`, trusting this machine's proxies (and
    with `env`), behind Caddy as docs/security.md says for `mount`."""
    server = Server(workdir / "torrentino.db", env={**TRUST_THIS_MACHINE, **(env or {})})
    with server, caddy_in_front(server, mount, workdir / "caddy") as proxied:
        yield proxied
