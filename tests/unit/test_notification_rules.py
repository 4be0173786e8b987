"""Where a notification may go, checked on the address a name resolves to at send time and
on every connection a sending thread makes; how a target's URL is shown; what its message
says. Connections only ever go to this machine's loopback (a refused address is never
contacted: the check comes before the connection)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.audit.events import AuditEvent, AuditEventType
from chalicelib.notifications import webhook
from chalicelib.notifications.addresses import AddressPolicy, AddressRefused, guarded
from chalicelib.notifications.messages import message
from chalicelib.notifications.urls import masked, scrub
from tests.receivers import receiver

STRICT = AddressPolicy()
LOOPBACK_ALLOWED = AddressPolicy(allow_loopback=True)
NO_PRIVATE = AddressPolicy(refuse_private=True)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.5.6.7", "::1", "::ffff:127.0.0.1", "::127.0.0.1", "0.0.0.0", "::"],
)
def test_loopback_is_refused_unless_allowed(address: str) -> None:
    assert "TORRENTINO_NOTIFY_ALLOW_LOOPBACK=1" in str(STRICT.refusal(address))
    assert LOOPBACK_ALLOWED.refusal(address) is None


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "169.254.0.1", "fd00:ec2::254", "fe80::1", "::ffff:169.254.169.254"],
)
def test_link_local_and_metadata_are_always_refused(address: str) -> None:
    for policy in (STRICT, LOOPBACK_ALLOWED, NO_PRIVATE):
        assert "link-local or cloud metadata" in str(policy.refusal(address))


@pytest.mark.parametrize(
    "address", ["10.0.0.5", "172.16.3.4", "192.168.1.20", "fd12::5", "100.64.1.1"]
)
def test_private_lan_is_allowed_unless_refused(address: str) -> None:
    assert STRICT.refusal(address) is None
    assert "TORRENTINO_NOTIFY_REFUSE_PRIVATE" in str(NO_PRIVATE.refusal(address))


@pytest.mark.parametrize("address", ["224.0.0.1", "255.255.255.255", "240.0.0.1", "ff02::1"])
def test_addresses_of_no_single_machine_are_refused(address: str) -> None:
    assert STRICT.refusal(address) == "not a single machine's address"


def test_public_addresses_are_allowed() -> None:
    assert STRICT.refusal("93.184.216.34") is None
    assert NO_PRIVATE.refusal("2606:2800:220:1:248:1893:25c8:1946") is None


def test_the_settings_set_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    assert AddressPolicy.from_settings() == STRICT
    monkeypatch.setenv("TORRENTINO_NOTIFY_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("TORRENTINO_NOTIFY_REFUSE_PRIVATE", "yes")
    assert AddressPolicy.from_settings() == AddressPolicy(allow_loopback=True, refuse_private=True)


@pytest.fixture
def listener() -> Any:
    """A listening socket on loopback that nothing should reach."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.setblocking(False)
        yield sock


def nothing_arrived(sock: socket.socket) -> bool:
    try:
        sock.accept()[0].close()
    except BlockingIOError:
        return True
    return False


def test_no_connection_of_a_guarded_thread_reaches_a_refused_address(
    listener: socket.socket,
) -> None:
    port = listener.getsockname()[1]
    with guarded(STRICT):
        for host in ("127.0.0.1", "localhost", "::ffff:127.0.0.1"):
            with pytest.raises(AddressRefused):
                socket.create_connection((host, port), timeout=2)
        raw = socket.socket()
        with pytest.raises(AddressRefused):
            raw.connect(("127.0.0.1", port))
        with pytest.raises(AddressRefused):
            raw.connect_ex(("localhost", port))
        raw.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(AddressRefused):
            udp.sendto(b"hello", ("127.0.0.1", port))
        with socket.socket(socket.AF_UNIX) as unix, pytest.raises(AddressRefused):
            unix.connect("/run/anything.sock")
    assert nothing_arrived(listener)
    with socket.create_connection(("127.0.0.1", port), timeout=2):  # outside: as before
        pass
    assert not nothing_arrived(listener)


class FakeDns:
    """Stands in for DNS: answers each lookup of any name with the next address given."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        self.lookups.append(str(host))
        address = self.answers[min(len(self.lookups), len(self.answers)) - 1]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, int(port)))]


def test_a_name_is_checked_on_what_it_resolves_to_at_send_time() -> None:
    dns = FakeDns("169.254.169.254")
    policy = AddressPolicy(allow_loopback=True, resolver=dns)
    with pytest.raises(AddressRefused, match=r"hooks\.example\.com \(169\.254\.169\.254\)"):
        webhook.post("http://hooks.example.com/x", b"{}", {}, policy)
    assert dns.lookups == ["hooks.example.com"]


def test_the_connection_goes_to_the_address_checked_so_rebinding_does_not_help() -> None:
    with receiver() as hook:
        # The first answer is fine; any later lookup would give the metadata address.
        dns = FakeDns("127.0.0.1", "169.254.169.254")
        policy = AddressPolicy(allow_loopback=True, resolver=dns)
        answer = webhook.post(f"http://rebind.example:{hook.port}/hook", b"{}", {}, policy)
        assert answer.status == 200
        [got] = hook.wait_for(1)
    assert dns.lookups == ["rebind.example"]  # looked up once: that address was used
    assert got.headers["host"] == f"rebind.example:{hook.port}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ntfy://tk_secret@ntfy.example.com/topic", "ntfy://***@ntfy.example.com/***"),
        ("discord://123456789/AbCdEfToken", "discord://***/***"),
        ("tgram://123456:ABC-DEF/987", "tgram://***/***"),
        ("https://hooks.example.com:8443/n8n/abc?token=x", "https://hooks.example.com:8443/***"),
        ("mailto://user:pw@smtp.example.com?to=a@b.c", "mailto://***@smtp.example.com/***"),
        ("json://192.168.1.5:8080", "json://192.168.1.5:8080"),
        ("http://[::1]:9000/x", "http://[::1]:9000/***"),
    ],
)
def test_a_url_is_shown_masked(url: str, shown: str) -> None:
    assert masked(url) == shown


def test_a_urls_secrets_are_scrubbed_from_any_text() -> None:
    url = "discord://123456789/AbCdEfToken?avatar_url=https%3A%2F%2Fx"
    text = "failed POST https://discord.com/api/webhooks/123456789/AbCdEfToken: A...n 401"
    cleaned = scrub(text, url)
    assert "123456789" not in cleaned and "AbCdEfToken" not in cleaned and "A...n" not in cleaned
    assert "401" in cleaned


def event(kind: AuditEventType, **data: Any) -> AuditEvent:
    return AuditEvent(id=7, event_type=kind, timestamp=datetime.now(UTC), data=data)


def test_each_event_has_a_short_human_message() -> None:
    title = "Abbey Road by The Beatles, prefer 2019 remaster\nsecond line"
    completed = event(AuditEventType.TICKET_STATE_CHANGED, to="completed", state={"completed": {}})
    failed = event(
        AuditEventType.TICKET_STATE_CHANGED,
        to="failed",
        state={"failed": {"error": "no seeders"}},
    )
    cancelled = event(AuditEventType.TICKET_CANCELLED, reason="changed my mind")
    assert message(completed, title) == "Abbey Road by The Beatles, prefer 2019 remaster: completed"
    assert message(failed, "Abbey Road") == "Abbey Road: failed: no seeders"
    assert message(cancelled, "Abbey Road") == "Abbey Road: cancelled (changed my mind)"
    assert message(event(AuditEventType.TICKET_CREATED, created_by="bob"), "X") == "X: filed by bob"
    assert message(event(AuditEventType.BACKUP_FAILED, reason="disk full")) == (
        "Backup failed: disk full"
    )
    for kind in AuditEventType:
        assert message(event(kind)), kind
