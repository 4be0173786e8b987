"""Sending one notice to one target, whatever its kind, and what came of it."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import datetime

from chalicelib.audit.events import AuditEvent
from chalicelib.notifications import apprise_sender, webhook
from chalicelib.notifications.addresses import AddressPolicy, AddressRefused
from chalicelib.notifications.messages import TITLE
from chalicelib.notifications.model import TargetKind, TargetRow
from chalicelib.notifications.urls import scrub

GONE = 410
LONGEST_ERROR = 300


@dataclass(frozen=True)
class Notice:
    """What a target is sent: the webhook's id and JSON body, and the human message."""

    message_id: str
    body: bytes
    text: str


@dataclass(frozen=True)
class Outcome:
    """Whether a send got through, the receiver's status if it answered, and what failed."""

    delivered: bool
    status: int | None = None
    error: str | None = None

    @property
    def gone(self) -> bool:
        """The receiver answered 410 Gone: it wants no more."""
        return self.status == GONE


def message_id(target_id: str, event_id: int) -> str:
    """The webhook-id of an event sent to a target: the same on every retry and after a
    crash, so a receiver can drop a duplicate."""
    return f"msg_{target_id}_{event_id}"


def event_notice(target_id: str, event: AuditEvent, text: str) -> Notice:
    """The notice of an audit event: its JSON as `GET /api/v1/audit` shows it."""
    body = event.model_dump_json().encode("utf-8")
    return Notice(message_id(target_id, event.id), body, text)


def _describe(error: OSError) -> str:
    if isinstance(error, AddressRefused | webhook.ReceiverError):
        return str(error)
    if isinstance(error, TimeoutError):
        return "no answer in time (the receiver is slow or unreachable)"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the receiver running?)"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed: {error.reason or error}"
    return f"{type(error).__name__}: {error.strerror or error}"


def send(target: TargetRow, notice: Notice, policy: AddressPolicy, at: datetime) -> Outcome:
    """Send `notice` to `target` now; never raises for the receiver's or network's faults."""
    try:
        if target.kind is TargetKind.APPRISE:
            result = apprise_sender.send(target.url, TITLE, notice.text, policy)
            return Outcome(result.delivered, result.status, _short(result.error))
        assert target.secret is not None  # every webhook has one (store.create)
        headers = webhook.signed_headers(target.secret, notice.message_id, at, notice.body)
        answer = webhook.post(target.url, notice.body, headers, policy)
    except OSError as error:
        return Outcome(False, None, _short(scrub(_describe(error), target.url)))
    except Exception as error:  # a library's surprise: its text may quote the URL
        return Outcome(False, None, _short(scrub(f"{type(error).__name__}: {error}", target.url)))
    if 200 <= answer.status < 300:
        return Outcome(True, answer.status)
    said = answer.body[:200].decode("utf-8", errors="replace").strip()
    error_text = f"the receiver answered {answer.status}" + (f": {said}" if said else "")
    return Outcome(False, answer.status, _short(scrub(error_text, target.url)))


def _short(text: str | None) -> str | None:
    if text is None or len(text) <= LONGEST_ERROR:
        return text
    return text[: LONGEST_ERROR - 1] + "…"
