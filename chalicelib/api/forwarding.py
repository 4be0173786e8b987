"""Who the client is, and which URL it used, behind a reverse proxy this service trusts.

A reverse proxy on the same machine (Caddy, nginx, Traefik) makes every request arrive
from the proxy's address, usually 127.0.0.1. `TORRENTINO_TRUSTED_PROXIES` names such
proxies (`settings.trusted_proxies`). Only when the peer is one of them are the
forwarding headers read, as uvicorn's `--forwarded-allow-ips` does:

* the client's address from `X-Forwarded-For` or `Forwarded` (RFC 7239): the right-most
  address that is not itself a trusted proxy (the left-most, when every one is), since
  each proxy appends the address it got the request from, and everything to the left of
  the first untrusted one is whatever that client chose to send;
* the scheme, host and path prefix the client used, from `X-Forwarded-Proto`,
  `X-Forwarded-Host` and `X-Forwarded-Prefix`, or `Forwarded`'s `proto` and `host`.

From any other peer those headers are ignored: anyone can send them. A trusted proxy's
request that names no client (no such header, `unknown`, an obfuscated name), or whose
two headers name different clients, has no known client: it is treated as remote.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from chalicelib.errors import InvalidInput

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(:[0-9]{1,5})?")
_SEGMENT = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+=:@-]|%[0-9A-Fa-f]{2})+")


@dataclass(frozen=True)
class ExternalUrl:
    """The URL a request was made to, as its client sees it."""

    scheme: str | None  # http or https; None: not known (no trusted proxy said)
    host: str | None  # the Host the client used, port included; None: it sent none
    prefix: str  # where a proxy mounts the service: '' or a path such as '/torrentino'


def parse_address(text: str) -> Address | None:
    """An address as forwarding headers write it (`192.0.2.1`, `192.0.2.1:80`, `::1`,
    `[::1]:80`, quoted or not), IPv4-mapped IPv6 as IPv4; None for anything else
    (`unknown`, an obfuscated `_name`)."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(peer: str | None, trusted: Sequence[Network]) -> bool:
    """Whether `peer` is one of the trusted proxies."""
    address = parse_address(peer or "") if trusted else None
    return address is not None and any(address in network for network in trusted)


def client_address(
    peer: str | None, headers: Mapping[str, str], trusted: Sequence[Network]
) -> str | None:
    """The client's address: `peer` itself, unless it is a trusted proxy; then the client
    its forwarding headers name, or None when they name none (treated as remote)."""
    if not is_trusted(peer, trusted):
        return peer
    named = set()
    forwarded_for = headers.get("x-forwarded-for")
    if forwarded_for is not None:
        named.add(_client_of(forwarded_for.split(","), trusted))
    hops = [element["for"] for element in _elements(headers) if "for" in element]
    if hops:
        named.add(_client_of(hops, trusted))
    return named.pop() if len(named) == 1 else None


def external_url(
    peer: str | None, headers: Mapping[str, str], trusted: Sequence[Network]
) -> ExternalUrl:
    """The scheme, host and path prefix the client used: from a trusted proxy's headers,
    else the request's own Host alone.

    Raises `InvalidInput` naming the header for a value a trusted proxy sent that is not
    a scheme, a host or a path.
    """
    if not is_trusted(peer, trusted):
        return ExternalUrl(scheme=None, host=headers.get("host"), prefix="")
    elements = list(_elements(headers))
    scheme = _agreed(headers, "x-forwarded-proto", elements, "proto")
    if scheme is not None and scheme.lower() not in ("http", "https"):
        raise InvalidInput(f"{scheme!r} is not http or https", field=_named("proto", headers))
    host = _agreed(headers, "x-forwarded-host", elements, "host")
    if host is not None and not _HOST.fullmatch(host):
        raise InvalidInput(f"{host!r} is not a host name", field=_named("host", headers))
    return ExternalUrl(
        scheme=scheme.lower() if scheme else None,
        host=host if host is not None else headers.get("host"),
        prefix=_prefix(headers.get("x-forwarded-prefix")),
    )


def _client_of(hops: Sequence[str], trusted: Sequence[Network]) -> str | None:
    """The right-most hop that is not a trusted proxy (the left-most if all are); None
    when a hop reached on the way is not an address, or there is none."""
    chosen = None
    for hop in reversed([hop for hop in hops if hop.strip()]):
        chosen = parse_address(hop)
        if chosen is None or not any(chosen in network for network in trusted):
            break
    return str(chosen) if chosen is not None else None


def _agreed(
    headers: Mapping[str, str], header: str, elements: list[dict[str, str]], parameter: str
) -> str | None:
    """What the right-most `X-Forwarded-...` entry and the right-most `Forwarded` element
    carrying `parameter` say; None if neither does, or if the two disagree."""
    said = set()
    value = headers.get(header)
    if value is not None and value.split(",")[-1].strip():
        said.add(value.split(",")[-1].strip())
    given = [element[parameter] for element in elements if parameter in element]
    if given:
        said.add(given[-1].strip())
    return said.pop() if len(said) == 1 else None


def _named(parameter: str, headers: Mapping[str, str]) -> str:
    """The header a bad `parameter` came from, to name it in the error."""
    legacy = f"X-Forwarded-{parameter.capitalize()}"
    return legacy if headers.get(legacy.lower()) is not None else "Forwarded"


def _prefix(value: str | None) -> str:
    """`X-Forwarded-Prefix` as a path prefix ('' or '/a/b'); raises `InvalidInput`."""
    prefix = (value or "").split(",")[-1].strip().rstrip("/")
    if not prefix:
        return ""
    segments = prefix.split("/")
    if segments[0] or not all(
        _SEGMENT.fullmatch(segment) and segment not in (".", "..") for segment in segments[1:]
    ):
        raise InvalidInput(
            f"{value!r} is not a path such as '/torrentino'", field="X-Forwarded-Prefix"
        )
    return prefix


def _elements(headers: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """The `Forwarded` header's elements (RFC 7239), each as its parameters by name.

    A header whose quoted string is never closed is one element naming no client: the
    open quote would hide the elements after it, the ones a proxy appended, and leave
    the client's own `for` as the last one.
    """
    try:
        elements = _split(headers.get("forwarded") or "", ",")
    except ValueError:
        yield {"for": "unknown"}
        return
    for element in elements:
        pairs = {}
        for pair in _split(element, ";"):
            name, equals, value = pair.partition("=")
            if equals:
                pairs[name.strip().lower()] = _unquote(value.strip())
        yield pairs


def _split(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside double quotes; raises `ValueError` when a
    quoted string is not closed."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted or escaped:
        raise ValueError("a quoted string is not closed")
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    """A quoted-string's content (backslash escapes undone), or a token as it is."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value
