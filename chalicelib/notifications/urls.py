"""A target's URL: checked when it is saved, shown only masked, and its secret parts kept
out of every error message.

A URL's secrets can sit anywhere: a password, a user name that is a token (ntfy), a path
(a Discord webhook's token, an n8n webhook's id), a query value, even the "host" (Telegram's
bot token). So the masked form keeps only what is plainly a machine's name (the scheme, a
host with a dot or an IP address, a port) and hides the rest whole.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, unquote, urlsplit

from chalicelib.errors import InvalidInput
from chalicelib.notifications.addresses import AddressPolicy

HIDDEN = "***"
MAX_URL_LENGTH = 2048
# Apprise's own privacy form of a secret ("a...f") still shows two of its characters.
_APPRISE_PRIVACY = re.compile(r"[^\s/:@?&=]\.\.\.[^\s/:@?&=]")
_SHORTEST_SECRET = 3


def split(url: str) -> SplitResult:
    """The parts of a URL; raises `InvalidInput` naming `url` when it has no scheme."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"field 'url' is longer than {MAX_URL_LENGTH} characters", field="url")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - a bad port raises ValueError here
    except ValueError as error:
        raise InvalidInput(f"field 'url' is not a URL: {error}", field="url") from None
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", parts.scheme) or "://" not in url:
        raise InvalidInput(
            "field 'url' must be a URL such as ntfy://host/topic or https://host/path",
            field="url",
        )
    return parts


def _plain_host(host: str) -> bool:
    """Whether a URL's host is plainly a machine's name (not a token in the host's place)."""
    if host == "localhost" or "." in host:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def masked(url: str) -> str:
    """The URL as it may be shown: scheme, host and port; everything else hidden."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    shown = host if _plain_host(host) else HIDDEN
    if ":" in shown:
        shown = f"[{shown}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and shown != HIDDEN:
        shown += f":{port}"
    if parts.username or parts.password:
        shown = f"{HIDDEN}@{shown}"
    rest = parts.path.strip("/") or parts.query or parts.fragment
    return f"{parts.scheme}://{shown}" + (f"/{HIDDEN}" if rest else "")


def secret_parts(url: str) -> list[str]:
    """Every piece of the URL that could be a secret, longest first (for scrubbing text)."""
    parts = urlsplit(url.strip())
    pieces = [parts.username, parts.password]
    if "@" in parts.netloc:
        pieces.append(parts.netloc)
    if parts.hostname and not _plain_host(parts.hostname):
        pieces.append(parts.hostname)
    pieces += [segment for segment in parts.path.split("/")]
    for pair in re.split("[&;]", parts.query):
        pieces += pair.split("=", 1)
    pieces.append(parts.fragment)
    found = {p for piece in pieces if piece for p in (piece, unquote(piece))}
    found = {p for p in found if len(p) >= _SHORTEST_SECRET}
    return sorted(found, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """`text` with every secret part of `url` (and Apprise's "a...f" forms) hidden."""
    for piece in [url.strip(), *secret_parts(url)]:
        text = text.replace(piece, HIDDEN)
    return _APPRISE_PRIVACY.sub(HIDDEN, text)


def check_webhook_url(url: str, policy: AddressPolicy) -> None:
    """Refuse a webhook URL that is not http(s) with a host, or whose host is an address
    the rules refuse (a name is checked again, resolved, whenever it is sent to)."""
    parts = split(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            "field 'url': a webhook's URL starts with https:// or http:// and names a host",
            field="url",
        )
    check_literal_host(parts.hostname, policy)


def check_literal_host(host: str | None, policy: AddressPolicy) -> None:
    """Refuse, when it is saved, a target whose host is an IP address the rules refuse."""
    if not host:
        return
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return
    reason = policy.refusal(host.strip("[]"))
    if reason is not None:
        raise InvalidInput(f"field 'url': {host} is {reason}", field="url")
