"""Which connection gives up its place when a new one arrives at the cap.

Real sockets (socket pairs); the handler threads' steps are taken by calling what
the launcher's handler calls, in the order it calls them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from launcher.connection_limits import SPARE_THREADS, ConnectionEvicted, ConnectionLimits
from launcher.connection_slots import (
    ClientConnection,
    ConnectionSlots,
    DeadlineReader,
    DeadlineWriter,
)

CAP = 3


class Pairs:
    """Socket pairs: the server's end is admitted, the client's end sends."""

    def __init__(self) -> None:
        self.clients: dict[socket.socket, socket.socket] = {}

    def new(self) -> socket.socket:
        server_end, client_end = socket.socketpair()
        self.clients[server_end] = client_end
        return server_end

    def close(self) -> None:
        for server_end, client_end in self.clients.items():
            server_end.close()
            client_end.close()


@pytest.fixture
def pairs() -> Iterator[Pairs]:
    made = Pairs()
    yield made
    made.close()


def admitted(slots: ConnectionSlots, pairs: Pairs) -> ClientConnection:
    connection = slots.admit(pairs.new())
    assert connection is not None and not connection.turned_away
    return connection


def in_recv(*connections: ClientConnection) -> None:
    for connection in connections:
        connection.start_recv()


def later() -> None:
    """Let the monotonic clock move on, so "quiet since" orders the steps taken."""
    time.sleep(0.002)


def full_slots(pairs: Pairs) -> tuple[ConnectionSlots, list[ClientConnection]]:
    slots = ConnectionSlots(ConnectionLimits(max_connections=CAP))
    connections = []
    for _ in range(CAP):
        connections.append(admitted(slots, pairs))
        later()
    return slots, connections


def evicted_by_a_new_connection(
    slots: ConnectionSlots, pairs: Pairs, connections: list[ClientConnection]
) -> list[int]:
    newcomer = slots.admit(pairs.new())
    assert newcomer is not None and not newcomer.turned_away
    return [i for i, connection in enumerate(connections) if connection.evicted]


def test_the_connection_whose_client_has_been_quiet_longest_gives_up_its_place(
    pairs: Pairs,
) -> None:
    slots, (silent, slow, answered) = full_slots(pairs)
    in_recv(silent, slow, answered)
    slow.received(1)  # a byte of a request, after the others were accepted
    later()
    answered.await_request()
    answered.await_request()  # answered once, now idle between requests
    assert evicted_by_a_new_connection(slots, pairs, [silent, slow, answered]) == [0]
    assert evicted_by_a_new_connection(slots, pairs, [silent, slow, answered]) == [0, 1]


def test_an_idle_keep_alive_connection_goes_before_a_request_still_arriving(
    pairs: Pairs,
) -> None:
    """An ordinary client's body may follow its head a moment later: a connection
    waiting for it has been quiet for that moment only."""
    slots, (first, second, ordinary) = full_slots(pairs)
    for kept_alive in (first, second):
        kept_alive.await_request()
        kept_alive.await_request()
    later()
    ordinary.await_request()
    ordinary.received(120)  # the head; the body is on its way
    ordinary.await_body()
    in_recv(first, second, ordinary)
    assert evicted_by_a_new_connection(slots, pairs, [first, second, ordinary]) == [0]
    assert evicted_by_a_new_connection(slots, pairs, [first, second, ordinary]) == [0, 1]


def test_a_connection_not_waiting_for_its_client_goes_after_every_waiting_one(
    pairs: Pairs,
) -> None:
    slots, (not_run, unread, waiting) = full_slots(pairs)
    # The oldest has a thread that has not reached recv; the next one's client has
    # sent bytes its thread has not read. Only the newest waits for its client.
    in_recv(unread, waiting)
    pairs.clients[unread.sock].sendall(b"GET / HTTP/1.1\r\n")
    assert evicted_by_a_new_connection(slots, pairs, [not_run, unread, waiting]) == [2]
    # Among those not waiting, the one quiet longest.
    assert evicted_by_a_new_connection(slots, pairs, [not_run, unread, waiting]) == [0, 2]


def test_a_connection_busy_with_a_request_keeps_its_place(pairs: Pairs) -> None:
    slots, connections = full_slots(pairs)
    for connection in connections:
        assert connection.begin_work()
    turned_away = [slots.admit(pairs.new()) for _ in range(SPARE_THREADS)]
    assert all(c is not None and c.turned_away for c in turned_away)
    assert slots.admit(pairs.new()) is None  # beyond the spare threads: closed unanswered
    assert not any(connection.evicted for connection in connections)


def leaving_on_every_spare_thread(
    slots: ConnectionSlots, pairs: Pairs, connections: list[ClientConnection]
) -> list[ClientConnection]:
    """Every place taken by a connection waiting for its client, and every spare thread
    by an evicted one that has not answered yet (its thread has not run: a busy machine,
    or a burst of new connections)."""
    served, evicted = list(connections), []
    for _ in range(SPARE_THREADS):
        in_recv(*served)
        served.append(admitted(slots, pairs))
        (gone,) = [c for c in served if c.evicted]
        served.remove(gone)
        evicted.append(gone)
    return evicted


def admit_on_a_thread(
    slots: ConnectionSlots, sock: socket.socket, keep_waiting: threading.Event
) -> tuple[threading.Thread, list[ClientConnection | None]]:
    outcome: list[ClientConnection | None] = []
    thread = threading.Thread(
        target=lambda: outcome.append(slots.admit(sock, keep_waiting=keep_waiting.is_set))
    )
    thread.start()
    return thread, outcome


def test_while_every_spare_thread_is_taken_a_new_connection_waits_for_one(
    pairs: Pairs,
) -> None:
    """Not closed unanswered: the CI failure of an ordinary request among 1,000 slow
    clients, whose evictions had taken every spare thread."""
    slots, connections = full_slots(pairs)
    evicted = leaving_on_every_spare_thread(slots, pairs, connections)
    assert slots.admit(pairs.new()) is None  # not asked to wait: closed unanswered
    keep_waiting = threading.Event()
    keep_waiting.set()
    thread, outcome = admit_on_a_thread(slots, pairs.new(), keep_waiting)
    thread.join(timeout=0.6)
    assert thread.is_alive() and not outcome  # still waiting, past two slices
    slots.release(evicted[0].sock)  # its thread has answered
    thread.join(timeout=10)
    (connection,) = outcome
    assert connection is not None and not connection.turned_away  # a waiting one made room
    assert slots.open_connections() == CAP + SPARE_THREADS


def test_a_connection_waiting_for_a_spare_thread_is_closed_unanswered_once_told_to_stop(
    pairs: Pairs,
) -> None:
    slots, connections = full_slots(pairs)
    leaving_on_every_spare_thread(slots, pairs, connections)
    keep_waiting = threading.Event()
    keep_waiting.set()
    thread, outcome = admit_on_a_thread(slots, pairs.new(), keep_waiting)
    thread.join(timeout=0.3)
    assert thread.is_alive()
    keep_waiting.clear()  # a stop signal came
    thread.join(timeout=10)
    assert outcome == [None]
    assert slots.open_connections() == CAP + SPARE_THREADS


def test_bytes_read_as_the_connection_is_evicted_count_as_a_request_begun(
    pairs: Pairs,
) -> None:
    """So its client is answered 503 rather than closed unanswered."""
    slots = ConnectionSlots(ConnectionLimits(max_connections=1))
    connection = admitted(slots, pairs)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            DeadlineReader(connection).readinto(bytearray(64))
        except ConnectionEvicted as error:
            outcome.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    while not connection.in_recv:
        time.sleep(0.001)
    # Hold the lock the thread takes on its way out of recv: the bytes are read, and
    # the eviction comes before the thread can note them.
    with slots._lock:
        pairs.clients[connection.sock].sendall(b"POST /api/v1/tickets HTTP/1.1\r\n")
        while connection.has_unread_bytes():
            time.sleep(0.001)
        connection.evict()
    reader.join(timeout=5)
    assert len(outcome) == 1
    assert connection.request_started


# --- one client address holds at most its share of the places -----------------------------

SHARED = 4  # places; one address may hold 2


def from_address(slots: ConnectionSlots, pairs: Pairs, client: str | None) -> ClientConnection:
    connection = slots.admit(pairs.new(), client)
    assert connection is not None and not connection.turned_away
    return connection


def test_one_address_holds_at_most_half_the_places(pairs: Pairs) -> None:
    slots = ConnectionSlots(ConnectionLimits(max_connections=SHARED))
    assert slots.limits.max_per_client == 2
    busy = [from_address(slots, pairs, "192.0.2.1") for _ in range(2)]
    for connection in busy:
        assert connection.begin_work()  # e.g. sending an answer its client does not read
    refused = slots.admit(pairs.new(), "192.0.2.1")
    assert refused is not None and refused.turned_away and refused.over_share
    # The other half stays for everyone else, and the global cap still holds.
    others = [from_address(slots, pairs, f"192.0.2.{n}") for n in (2, 3)]
    for connection in others:
        assert connection.begin_work()
    beyond = slots.admit(pairs.new(), "192.0.2.4")
    assert beyond is not None and beyond.turned_away and not beyond.over_share
    assert not any(connection.evicted for connection in busy + others)


def test_an_address_at_its_share_gives_up_its_own_quietest_place(pairs: Pairs) -> None:
    slots = ConnectionSlots(ConnectionLimits(max_connections=SHARED))
    elsewhere = from_address(slots, pairs, "192.0.2.2")  # quiet longest of all
    later()
    first, second = (from_address(slots, pairs, "192.0.2.1") for _ in range(2))
    in_recv(elsewhere, first, second)
    newcomer = from_address(slots, pairs, "192.0.2.1")
    assert [c.evicted for c in (elsewhere, first, second)] == [False, True, False]
    assert newcomer.client == "192.0.2.1"
    # Its request, if it had begun one, is refused in the share's words.
    assert first.over_share


def test_a_connection_evicted_at_the_cap_is_not_over_its_share(pairs: Pairs) -> None:
    slots = ConnectionSlots(ConnectionLimits(max_connections=SHARED))
    quietest, *others = (from_address(slots, pairs, f"192.0.2.{n}") for n in range(1, 5))
    in_recv(quietest, *others)
    from_address(slots, pairs, "192.0.2.9")
    assert quietest.evicted and not quietest.over_share


def test_a_trusted_proxys_connection_counts_for_the_client_it_forwards(pairs: Pairs) -> None:
    """Admitted for nobody, it counts for a client while it serves that client's request."""
    slots = ConnectionSlots(ConnectionLimits(max_connections=SHARED))
    proxied = [from_address(slots, pairs, None) for _ in range(3)]  # more than a share
    for connection in proxied:
        connection.await_request()
    assert slots.attribute(proxied[0], "192.0.2.7")
    assert slots.attribute(proxied[1], "192.0.2.7")
    for connection in proxied[:2]:
        assert connection.begin_work()
    assert not slots.attribute(proxied[2], "192.0.2.7")  # its share, busy: refused
    assert slots.attribute(proxied[2], "192.0.2.8")  # another client behind the same proxy
    direct = slots.admit(pairs.new(), "192.0.2.7")
    assert direct is not None and direct.over_share
    # Its request answered, the proxy's connection counts for nobody again.
    proxied[0].await_request()
    assert proxied[0].client is None
    assert slots.attribute(proxied[1], "192.0.2.7")  # (already its)
    assert from_address(slots, pairs, "192.0.2.7").client == "192.0.2.7"


def test_an_answer_must_be_taken_within_the_send_timeout_as_a_whole(pairs: Pairs) -> None:
    """The timeout starts with the answer's first write: a client that takes the head
    and then stalls does not get the whole timeout again for the body."""
    slots = ConnectionSlots(ConnectionLimits(send_timeout=0.001))
    connection = admitted(slots, pairs)
    connection.await_request()
    writer = DeadlineWriter(connection)
    writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
    time.sleep(0.01)  # longer than the send timeout
    with pytest.raises(TimeoutError):
        writer.write(b"{}")  # the socket would take it at once; the answer's time is up
    connection.await_request()  # the next answer has a send timeout of its own
    writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
