"""Sending through Apprise: one URL for Discord, Telegram, ntfy, Gotify, email and the rest.

Apprise is imported only here, and only when a target is saved or sent to, so the API's
cold start does not pay for its 190 plugins. A send runs inside `addresses.guarded` (every
name lookup and connection held to the rules) with this module's limits on the HTTP
library Apprise uses (`requests`): short connect and read timeouts, at most `RESPONSE_LIMIT`
bytes of an answer read, and no redirect followed. Apprise's own log lines go to the
sending thread's buffer, scrubbed of the URL's secrets, to become the delivery's error;
they never reach the process's log, and neither do the HTTP library's.
"""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass
from typing import Any

from chalicelib.notifications import webhook
from chalicelib.notifications.addresses import AddressPolicy, active_policy, guarded
from chalicelib.notifications.urls import scrub

RESPONSE_LIMIT = webhook.RESPONSE_LIMIT
TIMEOUTS = (webhook.CONNECT_TIMEOUT_SECONDS, webhook.READ_TIMEOUT_SECONDS)
_local = threading.local()
_install_lock = threading.Lock()
_installed = False


# Of Apprise's debug lines, only these say why a send failed; the others may quote headers
# (an Authorization header is a secret in another form, which scrubbing could not find).
_USEFUL_DEBUG = ("Socket Exception", "Response Details")


class _ThreadBuffer(logging.Handler):
    """Apprise's warnings (and its reasons), into the buffer of the thread that is sending."""

    def emit(self, record: logging.LogRecord) -> None:
        buffer: io.StringIO | None = getattr(_local, "log", None)
        text = record.getMessage()
        if buffer is not None and (
            record.levelno >= logging.WARNING or text.startswith(_USEFUL_DEBUG)
        ):
            buffer.write(f"{text}\n")


def _install() -> None:
    """Bound `requests` while guarded, and keep Apprise's and urllib3's logs to ourselves."""
    global _installed  # noqa: PLW0603 - once per process
    with _install_lock:
        if _installed:
            return
        import requests.adapters  # noqa: PLC0415 - Apprise's dependency, loaded with it

        original = requests.adapters.HTTPAdapter.send

        def bounded_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if active_policy() is None:
                return original(self, request, *args, **kwargs)
            kwargs.update(stream=True, timeout=TIMEOUTS)
            response = original(self, request, **kwargs)
            try:
                body = response.raw.read(RESPONSE_LIMIT, decode_content=False)
            finally:
                response.close()
            response._content, response._content_consumed = body, True
            response.headers.pop("location", None)  # a redirect is an answer, not followed
            _local.status = response.status_code
            return response

        requests.adapters.HTTPAdapter.send = bounded_send  # type: ignore[method-assign]
        apprise_log = logging.getLogger("apprise")
        apprise_log.propagate = False
        apprise_log.setLevel(logging.DEBUG)
        apprise_log.addHandler(_ThreadBuffer())
        logging.getLogger("urllib3").propagate = False  # its debug lines carry URLs
        _installed = True


def plugin(url: str) -> Any | None:
    """The Apprise plugin a URL names, set up with our timeouts, or None if Apprise
    cannot read the URL (unknown service, missing token, disabled plugin)."""
    _install()
    import apprise  # noqa: PLC0415 - see the module docstring

    asset = apprise.AppriseAsset(app_id="torrentino", app_desc="torrentino", app_url="")
    found = apprise.Apprise.instantiate(url, asset=asset, suppress_exceptions=True)
    if found is None:
        return None
    found.socket_connect_timeout, found.socket_read_timeout = TIMEOUTS
    return found


def service_name(url: str) -> str | None:
    """The service an Apprise URL names ("Discord", "ntfy"), or None if it names none."""
    _local.log = io.StringIO()
    try:
        found = plugin(url)
    finally:
        _local.log = None
    return None if found is None else str(found.service_name)


@dataclass(frozen=True)
class AppriseResult:
    """Whether Apprise delivered, the last HTTP status it met, and what went wrong."""

    delivered: bool
    status: int | None
    error: str | None


def send(url: str, title: str, body: str, policy: AddressPolicy) -> AppriseResult:
    """Send one message through the service `url` names, within the rules and limits."""
    _local.log, _local.status = io.StringIO(), None
    try:
        found = plugin(url)
        if found is None:
            return AppriseResult(False, None, "Apprise can no longer read this target's URL")
        with guarded(policy):
            delivered = bool(found.notify(body=body, title=title))
        lines = [line for line in _local.log.getvalue().splitlines() if line.strip()]
        error = None if delivered else scrub(" ".join(lines[-3:]) or "Apprise did not deliver", url)
        return AppriseResult(delivered, _local.status, error)
    finally:
        _local.log = None
