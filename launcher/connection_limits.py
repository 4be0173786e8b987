"""The launcher's limits on connections: how long it waits for a client, how many it serves.

`chalice local` gives every connection a thread of its own and waits on it for as
long as the client likes. The launcher bounds both. Each limit is a setting, read
from the environment when the server starts; anything but plain decimal digits
above zero means the default.

| setting                          | default | what it bounds                                   |
|----------------------------------|---------|--------------------------------------------------|
| `TORRENTINO_HEADER_TIMEOUT_MS`   | 10000   | request line and headers, from the first byte    |
| `TORRENTINO_BODY_TIMEOUT_MS`     | 30000   | the whole body, once the headers are in          |
| `TORRENTINO_KEEPALIVE_TIMEOUT_MS`| 5000    | an idle keep-alive connection between requests   |
| `TORRENTINO_SEND_TIMEOUT_MS`     | 30000   | each write of a response to a client not reading |
| `TORRENTINO_MAX_CONNECTIONS`     | 64      | connections served at once (one thread each)     |

One client address holds at most half of those places (`max_per_client`), so whatever
one client does, the other half stays for everyone else.

`docs/reliability.md` says why these values and how they compare with nginx and uvicorn.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

HEADER_TIMEOUT_VARIABLE = "TORRENTINO_HEADER_TIMEOUT_MS"
BODY_TIMEOUT_VARIABLE = "TORRENTINO_BODY_TIMEOUT_MS"
KEEPALIVE_TIMEOUT_VARIABLE = "TORRENTINO_KEEPALIVE_TIMEOUT_MS"
SEND_TIMEOUT_VARIABLE = "TORRENTINO_SEND_TIMEOUT_MS"
MAX_CONNECTIONS_VARIABLE = "TORRENTINO_MAX_CONNECTIONS"

# nginx reads a request head into at most 4 buffers of 8 KiB; http.server alone would
# buffer up to 100 header lines of 64 KiB each (6.5 MiB) for every connection.
MAX_HEAD_BYTES = 64 * 1024
# A connection turned away (over the cap, or evicted) is answered within this many
# seconds for each step, whatever the settings, so the few threads that answer them
# are soon free again.
TURN_AWAY_SECONDS = 2.0
# How many such connections may be finishing at once, beyond the cap; one more waits
# in the kernel's queue until one of them is done (`ConnectionSlots.admit`).
SPARE_THREADS = 8
RETRY_AFTER_SECONDS = 1


def _positive_integer(environ: Mapping[str, str], variable: str, default: int) -> int:
    configured = environ.get(variable, "")
    if configured.isascii() and configured.isdecimal() and int(configured) > 0:
        return int(configured)
    return default


@dataclass(frozen=True)
class ConnectionLimits:
    """Every limit the launcher puts on a connection; times in seconds."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 5.0
    send_timeout: float = 30.0
    max_connections: int = 64

    @property
    def max_per_client(self) -> int:
        """The places one client address may hold at once: half of them, at least one."""
        return max(1, self.max_connections // 2)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ConnectionLimits:
        """The limits the `TORRENTINO_...` settings in `environ` (default: this process's
        environment) ask for, defaults for the rest."""
        environ = os.environ if environ is None else environ
        defaults = cls()

        def seconds(variable: str, default: float) -> float:
            return _positive_integer(environ, variable, round(default * 1000)) / 1000

        return cls(
            header_timeout=seconds(HEADER_TIMEOUT_VARIABLE, defaults.header_timeout),
            body_timeout=seconds(BODY_TIMEOUT_VARIABLE, defaults.body_timeout),
            keepalive_timeout=seconds(KEEPALIVE_TIMEOUT_VARIABLE, defaults.keepalive_timeout),
            send_timeout=seconds(SEND_TIMEOUT_VARIABLE, defaults.send_timeout),
            max_connections=_positive_integer(
                environ, MAX_CONNECTIONS_VARIABLE, defaults.max_connections
            ),
        )

    def for_turning_away(self) -> ConnectionLimits:
        """The same limits, each at most `TURN_AWAY_SECONDS`."""
        return ConnectionLimits(
            header_timeout=min(self.header_timeout, TURN_AWAY_SECONDS),
            body_timeout=min(self.body_timeout, TURN_AWAY_SECONDS),
            keepalive_timeout=min(self.keepalive_timeout, TURN_AWAY_SECONDS),
            send_timeout=min(self.send_timeout, TURN_AWAY_SECONDS),
            max_connections=self.max_connections,
        )


class ClientTooSlow(Exception):
    """The client did not send what the current step waits for before its deadline."""


class ConnectionEvicted(Exception):
    """The server took this waiting connection's place for a new one."""


class HeadTooLarge(Exception):
    """The request line and headers are over `MAX_HEAD_BYTES`."""
