"""Where a notification may go: the address rules, checked when it is sent on the addresses
its name resolves to, and a guard that holds every connection a sending thread makes to them.

A target's name is resolved at send time, and the connection goes to the very address that
was checked: `guarded` makes the name lookup (`socket.getaddrinfo`) refuse a forbidden
answer, and makes every `connect` or `sendto` of the thread check the address it is given,
so a name that changes its answer between the check and the connection (DNS rebinding), a
library that resolves names by itself, or a redirect to another host, still meets the rules.
Outside `guarded` (the server's own threads) the patched functions behave as before.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from chalicelib import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[Any]]

# Link-local (where clouds put their metadata service: 169.254.169.254) and AWS's IPv6
# metadata address: never reachable, whatever the settings.
_LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
_METADATA = ipaddress.ip_address("fd00:ec2::254")
# "This network" (0.0.0.0/8): Linux connects 0.0.0.0 to this machine.
_THIS_HOST = ipaddress.ip_network("0.0.0.0/8")
_PRIVATE = tuple(
    ipaddress.ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_original_getaddrinfo = socket.getaddrinfo
_original_connect: Callable[..., None] = socket.socket.connect
_original_connect_ex: Callable[..., int] = socket.socket.connect_ex
_original_sendto: Callable[..., int] = socket.socket.sendto


class AddressRefused(OSError):
    """A target's name resolved to (or named) an address notifications may not reach."""


def _unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or -compatible IPv6 one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if int(address) >> 32 == 0 and int(address) > 1:  # ::a.b.c.d, deprecated but routed
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


@dataclass(frozen=True)
class AddressPolicy:
    """The rules: loopback only when allowed, link-local and metadata never, private LAN
    unless refused. `resolver` is the name lookup (the system's, unless a test stands in
    for DNS)."""

    allow_loopback: bool = False
    refuse_private: bool = False
    resolver: Resolver = field(default=_original_getaddrinfo, compare=False)

    @classmethod
    def from_settings(cls) -> AddressPolicy:
        """The rules as `TORRENTINO_NOTIFY_ALLOW_LOOPBACK` and `..._REFUSE_PRIVATE` set them."""
        return cls(
            allow_loopback=settings.notify_allow_loopback(),
            refuse_private=settings.notify_refuse_private(),
        )

    def refusal(self, text: str) -> str | None:
        """Why the address `text` may not be reached, or None if it may."""
        try:
            address = _unwrap(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            return "not an IP address"
        if address == _METADATA or any(address in net for net in _LINK_LOCAL):
            return "a link-local or cloud metadata address"
        if address.is_loopback or address.is_unspecified or address in _THIS_HOST:
            allowed = self.allow_loopback
            setting = settings.NOTIFY_ALLOW_LOOPBACK_VARIABLE
            why = f"this machine's own address ({setting}=1 allows it)"
        elif address.is_multicast or address.is_reserved or text == "255.255.255.255":
            allowed, why = False, "not a single machine's address"
        else:
            allowed = not (self.refuse_private and any(address in net for net in _PRIVATE))
            why = f"a private network address ({settings.NOTIFY_REFUSE_PRIVATE_VARIABLE} is set)"
        return None if allowed else why

    def check(self, name: str, address: str) -> None:
        """Raise `AddressRefused` if `address` (what `name` resolved to) may not be reached."""
        reason = self.refusal(address)
        if reason is not None:
            shown = address if name == address else f"{name} ({address})"
            raise AddressRefused(f"{shown} is {reason}")


_local = threading.local()


def active_policy() -> AddressPolicy | None:
    policy: AddressPolicy | None = getattr(_local, "policy", None)
    return policy


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
    policy = active_policy()
    if policy is None:
        return _original_getaddrinfo(host, port, *args, **kwargs)
    name = host.decode() if isinstance(host, bytes) else str(host)
    lookup = _original_getaddrinfo if _is_ip(name) else policy.resolver
    answers = lookup(host, port, *args, **kwargs)
    for answer in answers:
        policy.check(name, str(answer[4][0]))
    return answers


def _checked(sock: socket.socket, address: Any) -> Any:
    """The address to connect or send to, once the rules allow it: a name is resolved (and
    checked) here, so the connection goes to the address that was checked."""
    policy = active_policy()
    if policy is None:
        return address
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        raise AddressRefused("a notification may only use an IP network connection")
    host = str(address[0])
    if not _is_ip(host):
        answers = _getaddrinfo(host, address[1], sock.family, sock.type)
        if not answers:
            raise AddressRefused(f"{host} did not resolve")
        return answers[0][4]
    policy.check(host, host)
    return address


def _connect(self: socket.socket, address: Any) -> None:
    _original_connect(self, _checked(self, address))


def _connect_ex(self: socket.socket, address: Any) -> int:
    return _original_connect_ex(self, _checked(self, address))


def _sendto(self: socket.socket, data: Any, *args: Any) -> int:
    *flags, address = args
    return _original_sendto(self, data, *flags, _checked(self, address))


_install_lock = threading.Lock()
_installed = False


def install() -> None:
    """Put the checks in place (once per process); they act only inside `guarded`."""
    global _installed  # noqa: PLW0603 - patched once per process, as the module says
    with _install_lock:
        if _installed:
            return
        socket.getaddrinfo = _getaddrinfo
        socket.socket.connect = _connect  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign,assignment]
        socket.socket.sendto = _sendto  # type: ignore[method-assign,assignment]
        _installed = True


@contextmanager
def guarded(policy: AddressPolicy) -> Iterator[None]:
    """Hold every name lookup and connection of this thread to `policy` within the block.

    A refused address raises `AddressRefused` (an `OSError`, so the libraries that send
    notifications report it as the connection failure it is).
    """
    install()
    previous = active_policy()
    _local.policy = policy
    try:
        yield
    finally:
        _local.policy = previous
