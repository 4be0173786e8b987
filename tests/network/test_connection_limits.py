"""The launcher's connection limits over real sockets: timeouts, the cap, and ordinary
clients served while slow and idle ones hold more connections than the cap.

Each server here has settings of its own: small timeouts where a test shows a
connection being closed, a small cap and long timeouts where it shows the cap at
work. A client waits generously (`PATIENCE`) for whatever must happen; nothing
asserts on time, and the latencies measured are printed at the end of the run.
"""

from __future__ import annotations

import contextlib
import json
import resource
import select
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.slow_clients import SlowClients
from harness.server_process import LAUNCHER, PROJECT_DIR, Server
from launcher.connection_limits import SPARE_THREADS, ConnectionLimits
from launcher.read_turns import READS_AT_ONCE
from tests.helpers import example_ticket, row_counts, until_not_busy
from tests.network.conftest import FIGURES, PATIENCE, wait_for
from tests.other_machine import OtherMachine

QUICK = {
    "TORRENTINO_HEADER_TIMEOUT_MS": "300",
    "TORRENTINO_BODY_TIMEOUT_MS": "300",
    "TORRENTINO_KEEPALIVE_TIMEOUT_MS": "300",
    "TORRENTINO_SEND_TIMEOUT_MS": "500",
}
LONG_WAITS = {  # only the cap can free a place
    "TORRENTINO_HEADER_TIMEOUT_MS": "120000",
    "TORRENTINO_BODY_TIMEOUT_MS": "120000",
    "TORRENTINO_KEEPALIVE_TIMEOUT_MS": "120000",
    "TORRENTINO_BUSY_TIMEOUT_MS": "120000",
}
ACCEPTING_THREADS = 1  # a server with no connection runs its accepting thread only
# Memory: a server without a cap grew from 56 to 86 MiB under 1,000 slow clients, a thread
# and its buffers for each. With the cap, the clients cost its few dozen threads, well
# under BUSY_GROWTH_MIB; once they are gone, what stays is what the allocator keeps.
BUSY_GROWTH_MIB = 15
NOISE_MIB = 8
LARGE_ANSWER = b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: t\r\n\r\n"  # 32 KB each


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("quick") / "torrentino.db", env=QUICK) as server:
        yield server


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=PATIENCE)


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def parse(raw: bytes) -> Reply:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = (line.partition(":") for line in lines)
    headers = {name.lower(): value.strip() for name, _, value in fields}
    return Reply(int(status_line.split()[1]), headers, json.loads(body))


def assert_json_error(reply: Reply, status: int, code: str) -> None:
    assert (reply.status, reply.body["error"]["code"]) == (status, code), reply
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["connection"] == "close"
    assert reply.body["error"]["message"]


def resources(server: Server) -> str:
    return f"{server.thread_count()} threads, {server.fd_count()} fds"


# --- item 1: timeouts ------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent",
    [b"GET /api/v1/tick", b"GET /api/v1/tickets HTTP/1.1\r\nHost: t\r\nAccept: appl"],
    ids=["request line", "headers"],
)
def test_a_head_that_does_not_arrive_in_time_gets_a_json_408(
    quick_server: Server, sent: bytes
) -> None:
    with connect(quick_server) as sock:
        sock.sendall(sent)
        reply = parse(until_closed(sock))
    assert_json_error(reply, 408, "request_timeout")
    assert "headers did not arrive within 0.3 s" in reply.body["error"]["message"]


def test_a_head_sent_a_byte_at_a_time_must_still_arrive_in_time(quick_server: Server) -> None:
    # A timeout on each read would never fire here, and http.server would answer 431
    # after the 100th header; the deadline is for the head as a whole.
    head = b"GET /api/v1/tickets HTTP/1.1\r\n" + b"X-Slow: y\r\n" * 1000
    with connect(quick_server) as sock:
        for byte in head:
            if select.select([sock], [], [], 0.02)[0]:
                break  # the server has answered
            sock.send(bytes([byte]))
        else:
            pytest.fail("the server took the whole dripped head")
        reply = parse(until_closed(sock))
    assert_json_error(reply, 408, "request_timeout")


def test_a_body_that_does_not_arrive_in_time_gets_a_json_408_and_changes_nothing(
    quick_server: Server,
) -> None:
    before = row_counts(quick_server.db_path)
    body = json.dumps(example_ticket()).encode()
    with connect(quick_server) as sock:
        sock.sendall(
            b"POST /api/v1/tickets HTTP/1.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body) + 1}\r\n\r\n".encode()
            + body  # one byte short
        )
        reply = parse(until_closed(sock))
    assert_json_error(reply, 408, "request_timeout")
    assert "body did not arrive within 0.3 s" in reply.body["error"]["message"]
    assert row_counts(quick_server.db_path) == before


def test_a_connection_that_sends_nothing_is_closed_unanswered(quick_server: Server) -> None:
    with connect(quick_server) as sock:
        assert until_closed(sock) == b""


def test_an_idle_keep_alive_connection_is_closed_unanswered(quick_server: Server) -> None:
    with connect(quick_server) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\n\r\n")
        received = until_closed(sock)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert b"Connection: close" not in received  # it was kept alive, then timed out
    assert received.count(b"HTTP/1.1 ") == 1  # no 408 for a request never begun


def test_a_head_over_64_kib_gets_a_json_431(quick_server: Server) -> None:
    # 90 headers of 1 KB each: under http.server's limits of 100 headers and 64 KiB a
    # line, over the launcher's 64 KiB for the whole head.
    lines = b"".join(b"X-Big-%d: %s\r\n" % (n, b"y" * 1000) for n in range(90))
    with connect(quick_server) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\n" + lines + b"\r\n")
        reply = parse(until_closed(sock))
    assert_json_error(reply, 431, "invalid_input")
    assert "64 KiB" in reply.body["error"]["message"]


def test_a_client_that_stops_reading_does_not_keep_its_thread(quick_server: Server) -> None:
    wait_for(lambda: quick_server.thread_count() == ACCEPTING_THREADS, resources(quick_server))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
    sock.settimeout(PATIENCE)
    with sock:
        sock.connect(("127.0.0.1", quick_server.port))
        sock.sendall(LARGE_ANSWER * 1000)  # 32 MB of answers: far more than any buffer
        poller = select.poll()
        poller.register(sock, select.POLLHUP | select.POLLERR)
        # Closed by the server (a reset: it had not read every request) while this
        # client has still read nothing at all.
        wait_for(lambda: bool(poller.poll(0)), "the server gave up on a client not reading")
        wait_for(lambda: quick_server.thread_count() == ACCEPTING_THREADS, resources(quick_server))
        received = until_closed(sock)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.count(b"HTTP/1.1 200 ") < 1000


# --- item 2: the cap -------------------------------------------------------------------


def test_beyond_the_cap_a_new_connection_gets_a_fast_json_503_and_no_write_is_lost(
    tmp_path: Path,
) -> None:
    cap = 4
    env = {**LONG_WAITS, "TORRENTINO_MAX_CONNECTIONS": str(cap)}
    with Server(tmp_path / "torrentino.db", env=env) as server:
        tickets_url = f"{server.url}/api/v1/tickets"
        assert requests.post(tickets_url, json=example_ticket(), timeout=PATIENCE).ok
        acknowledged: dict[int, int] = {}

        def create(n: int) -> None:
            """A careful client: retries with its Idempotency-Key until answered."""
            deadline = time.monotonic() + 4 * PATIENCE
            while n not in acknowledged and time.monotonic() < deadline:
                try:
                    response = requests.post(
                        tickets_url,
                        json=example_ticket(priority=n),
                        headers={"Idempotency-Key": f"cap-{n}"},
                        timeout=4 * PATIENCE,
                    )
                except requests.ConnectionError:
                    continue  # its place went to another before it was read: never acted on
                if response.status_code == 503:
                    time.sleep(int(response.headers["Retry-After"]))
                    continue
                acknowledged[n] = response.status_code

        # Every create waits on this write lock, so `cap` of them keep every place busy.
        holder = sqlite3.connect(server.db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        creators = [threading.Thread(target=create, args=(n,)) for n in range(cap)]
        refusals: list[tuple[requests.Response, float]] = []
        try:
            for creator in creators:
                creator.start()

            def refused() -> bool:
                started = time.perf_counter()
                response = requests.get(
                    f"{server.url}/api/v1/health", headers={"Connection": "close"}, timeout=PATIENCE
                )
                assert response.status_code in (200, 503), response.text
                if response.status_code == 503:
                    refusals.append((response, time.perf_counter() - started))
                return bool(refusals)

            wait_for(refused, "a 503 while every place is busy")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        for creator in creators:
            creator.join(timeout=5 * PATIENCE)
        assert acknowledged == dict.fromkeys(range(cap), 201)
        assert row_counts(server.db_path)[0] == 1 + cap
        assert requests.get(f"{server.url}/api/v1/health", timeout=PATIENCE).status_code == 200
    response, seconds = refusals[0]
    assert response.headers["Retry-After"] == "1"
    assert response.headers["Connection"] == "close"
    assert response.json()["error"]["code"] == "server_busy"
    FIGURES.append(f"a 503 beyond the cap of {cap} busy connections: {seconds * 1000:.1f} ms")


class SparesTaken:
    """A server of one place, busy with a create that waits on a held write lock, and
    every spare thread taken by a client turned away that sends its head a line at a
    time (each is answered 408 after its 2 s)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.created: list[int] = []
        self.create_sent_at = 0.0  # when its last attempt was sent
        self.holder = sqlite3.connect(server.db_path, isolation_level=None)
        self.dripping: list[socket.socket] = []
        self.creator = threading.Thread(target=self._create)
        self.stop_dripping = threading.Event()
        self.dripper = threading.Thread(target=self._drip)

    def _create(self) -> None:
        url, key = f"{self.server.url}/api/v1/tickets", {"Idempotency-Key": "spares"}
        status = 503
        while status == 503:  # retried, should another connection hold the place
            self.create_sent_at = time.monotonic()
            status = requests.post(
                url, json=example_ticket(), headers=key, timeout=4 * PATIENCE
            ).status_code
        self.created.append(status)

    def _busy(self) -> bool:
        """The create has waited, unanswered, for half a second: it holds the place."""
        sent = self.create_sent_at
        return not self.created and bool(sent) and time.monotonic() - sent > 0.5

    def _drip(self) -> None:
        while not self.stop_dripping.wait(0.2):
            for sock in self.dripping:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-Drip: 1\r\n")

    def __enter__(self) -> SparesTaken:
        self.holder.execute("BEGIN IMMEDIATE")
        self.creator.start()
        wait_for(self._busy, "the create holds the one place")
        self.dripping = [connect(self.server) for _ in range(SPARE_THREADS)]
        for sock in self.dripping:
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\n")
        self.dripper.start()
        time.sleep(0.3)  # each is accepted and turned away: every spare thread taken
        return self

    def release_the_write_lock(self) -> None:
        if self.holder.in_transaction:
            self.holder.execute("ROLLBACK")

    def turned_away(self) -> list[int]:
        """The statuses the dripping clients were answered with."""
        self.stop_dripping.set()
        self.dripper.join()
        return [parse(until_closed(sock)).status for sock in self.dripping]

    def __exit__(self, *exc: object) -> None:
        self.stop_dripping.set()
        if self.dripper.is_alive():
            self.dripper.join()
        self.release_the_write_lock()
        self.holder.close()
        for sock in self.dripping:
            sock.close()
        self.creator.join(timeout=5 * PATIENCE)


def test_while_every_spare_thread_is_taken_a_new_connection_waits_and_is_answered(
    tmp_path: Path,
) -> None:
    """Not a closed socket (CI: an ordinary request among 1,000 slow clients was reset):
    the new connection waits in the kernel's queue for a spare thread and gets its 503."""
    env = {**LONG_WAITS, "TORRENTINO_MAX_CONNECTIONS": "1"}
    with Server(tmp_path / "torrentino.db", env=env) as server, SparesTaken(server) as taken:
        started = time.perf_counter()
        response = requests.get(f"{server.url}/api/v1/health", timeout=PATIENCE)
        seconds = time.perf_counter() - started
        assert taken.turned_away() == [408] * SPARE_THREADS
        taken.release_the_write_lock()
        taken.creator.join(timeout=5 * PATIENCE)
        assert taken.created == [201]
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "server_busy"
    assert response.headers["Retry-After"] == "1"
    FIGURES.append(
        f"a new connection while every spare thread is taken: a 503 after {seconds:.2f} s"
    )


def test_a_stop_signal_ends_the_wait_for_a_spare_thread(tmp_path: Path) -> None:
    """The waiting accept loop still ends within a quarter of a second of SIGTERM; the
    connection it waited for is closed unanswered (never acted on), the busy create is
    answered, and the server exits cleanly."""
    env = {**LONG_WAITS, "TORRENTINO_MAX_CONNECTIONS": "1"}
    with Server(tmp_path / "torrentino.db", env=env) as server, SparesTaken(server) as taken:
        assert server.process is not None
        waiting = connect(server)
        waiting.sendall(b"DELETE /api/v1/tickets/1 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)  # accepted, and waiting for a spare thread
        server.process.send_signal(signal.SIGTERM)
        with waiting:
            assert until_closed(waiting) == b""  # unanswered: a reset or a bare close
        taken.release_the_write_lock()
        assert server.process.wait(timeout=4 * PATIENCE) == 0
        taken.creator.join(timeout=5 * PATIENCE)
        assert taken.created == [201]
        assert "stopped on SIGTERM" in server.log()


# --- items 2 and 3: slow and idle clients beyond the cap ---------------------------------


def ordinary_requests(server: Server, rounds: int) -> list[tuple[str, int, float]]:
    """Create, read and list `rounds` times, each request on a connection of its own."""
    results: list[tuple[str, int, float]] = []
    tickets_url = f"{server.url}/api/v1/tickets"
    for _ in range(rounds):
        started = time.perf_counter()
        created = requests.post(tickets_url, json=example_ticket(), timeout=PATIENCE)
        results.append(("create", created.status_code, time.perf_counter() - started))
        assert created.status_code == 201, created.text
        started = time.perf_counter()
        read = requests.get(f"{tickets_url}/{created.json()['id']}", timeout=PATIENCE)
        results.append(("get", read.status_code, time.perf_counter() - started))
        started = time.perf_counter()
        listed = requests.get(f"{tickets_url}?limit=20", timeout=PATIENCE)
        results.append(("list", listed.status_code, time.perf_counter() - started))
    return results


def describe(results: list[tuple[str, int, float]]) -> str:
    ms = sorted(seconds * 1000 for _, _, seconds in results)
    return f"{len(ms)} requests, p50 {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms"


def test_slow_and_idle_connections_beyond_the_cap_do_not_stop_ordinary_requests(
    tmp_path: Path,
) -> None:
    cap = 16
    kinds = ("idle", "kept_alive", "dripping_head", "dripping_body")
    counts = dict.fromkeys(kinds, cap)  # four times the cap
    env = {**LONG_WAITS, "TORRENTINO_MAX_CONNECTIONS": str(cap)}
    with Server(tmp_path / "torrentino.db", env=env) as server:
        quiet = ordinary_requests(server, rounds=10)
        wait_for(lambda: server.thread_count() == ACCEPTING_THREADS, resources(server))
        threads, fds, rss = server.thread_count(), server.fd_count(), server.memory_mb()[0]
        most_threads = 0
        with SlowClients(("127.0.0.1", server.port), counts, reconnect_delay=1.0) as slow:
            wait_for(
                lambda: slow.connections_opened >= 2 * sum(counts.values()),
                "the slow clients take the server's places, again and again",
            )
            crowded: list[tuple[str, int, float]] = []
            for _ in range(10):
                crowded += ordinary_requests(server, rounds=1)
                most_threads = max(most_threads, server.thread_count())
            outcomes = slow.outcome_counts()
        assert [status for _, status, _ in crowded] == [201, 200, 200] * 10
        assert most_threads <= ACCEPTING_THREADS + cap + SPARE_THREADS
        # They lost their places to the ordinary clients and to each other: closed
        # unanswered, or answered 503 if they had begun a request.
        assert set(outcomes) <= {(kind, status) for kind in kinds for status in ("", "503")} | {
            ("kept_alive", "200")
        }
        # Once they are gone, so is everything they held.
        wait_for(lambda: server.thread_count() == threads, resources(server))
        wait_for(lambda: server.fd_count() == fds, resources(server))
        rss_after = server.memory_mb()[0]
        assert rss_after < rss + NOISE_MIB, (rss, rss_after)
    FIGURES.append(f"ordinary requests, quiet server: {describe(quiet)}")
    FIGURES.append(
        f"ordinary requests, {sum(counts.values())} slow and idle connections against a cap"
        f" of {cap}: {describe(crowded)}; server threads at most {most_threads},"
        f" RSS {rss:.0f} -> {rss_after:.0f} MiB"
    )


def test_a_thousand_clients_that_never_finish_their_heads_cost_at_most_the_cap(
    tmp_path: Path,
) -> None:
    """The issue's first finding, against `make run`'s defaults: 1,000 clients send a
    request line and a header a second, never ending the head."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    cap = ConnectionLimits().max_connections
    try:
        with Server(tmp_path / "torrentino.db") as server:
            ordinary_requests(server, rounds=1)
            wait_for(lambda: server.thread_count() == ACCEPTING_THREADS, resources(server))
            threads, fds, rss = server.thread_count(), server.fd_count(), server.memory_mb()[0]
            most_threads, most_rss = 0, 0.0
            slow = SlowClients(
                ("127.0.0.1", server.port),
                {"dripping_head": 1000},
                drip_interval=1.0,
                reconnect_delay=5.0,
            )
            with slow:
                wait_for(lambda: slow.connections_opened >= 1000, "1,000 connections open")
                crowded: list[tuple[str, int, float]] = []
                for _ in range(7):
                    crowded += ordinary_requests(server, rounds=1)
                    most_threads = max(most_threads, server.thread_count())
                    most_rss = max(most_rss, server.memory_mb()[0])
            assert [status for _, status, _ in crowded] == [201, 200, 200] * 7
            assert most_threads <= ACCEPTING_THREADS + cap + SPARE_THREADS
            assert most_rss < rss + BUSY_GROWTH_MIB, (rss, most_rss)
            wait_for(lambda: server.thread_count() == threads, resources(server))
            wait_for(lambda: server.fd_count() == fds, resources(server))
            assert server.memory_mb()[0] < rss + NOISE_MIB, (rss, server.memory_mb())
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    FIGURES.append(
        f"ordinary requests, 1,000 clients dripping request heads, default limits:"
        f" {describe(crowded)}; server threads at most {most_threads},"
        f" RSS {rss:.0f} -> at most {most_rss:.0f} MiB"
    )


# --- issue 19, threat 6: one address may not take every place -----------------------------


def test_an_address_holding_its_share_gets_a_json_503_while_another_is_served(
    other_machine: OtherMachine, tmp_path: Path
) -> None:
    cap = 4  # two places for each address
    env = {**LONG_WAITS, "TORRENTINO_MAX_CONNECTIONS": str(cap)}
    every_address = [*LAUNCHER, "--host", "0.0.0.0"]  # as `make run HOST=0.0.0.0`
    with Server(tmp_path / "torrentino.db", command=every_address, env=env) as server:
        tickets_url, health_url = f"{server.url}/api/v1/tickets", f"{server.url}/api/v1/health"
        answers: list[int] = []

        def create(n: int) -> None:
            def send() -> int:
                key = {"Idempotency-Key": f"share-{n}"}
                try:
                    response = requests.post(
                        tickets_url, json=example_ticket(), headers=key, timeout=4 * PATIENCE
                    )
                except requests.ConnectionError:
                    return 0  # its place went to another before it was read: never acted on
                return response.status_code

            answers.append(until_not_busy(send))

        refusals: list[requests.Response] = []

        def refused() -> bool:
            response = requests.get(health_url, headers={"Connection": "close"}, timeout=PATIENCE)
            assert response.status_code in (200, 503), response.text
            if response.status_code == 503:
                refusals.append(response)
            return bool(refusals)

        # Every create waits on this write lock: two of them keep loopback's share busy.
        holder = sqlite3.connect(server.db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        creators = [threading.Thread(target=create, args=(n,)) for n in range(2)]
        try:
            for creator in creators:
                creator.start()
            wait_for(refused, "a 503 while loopback's share is busy")
            # Another address has places of its own.
            health = f"http://{other_machine.server_address}:{server.port}/api/v1/health"
            assert other_machine.request("GET", health) == (200, {"status": "ok"})
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        for creator in creators:
            creator.join(timeout=5 * PATIENCE)
        assert answers == [201, 201]
        assert row_counts(server.db_path)[0] == 2
        assert requests.get(health_url, timeout=PATIENCE).status_code == 200
    (response,) = refusals
    assert (response.headers["Retry-After"], response.json()["error"]["code"]) == (
        "1",
        "server_busy",
    )
    message = response.json()["error"]["message"]
    assert "this client address is using all the 2 connections" in message


def test_a_connection_evicted_for_its_address_share_is_told_so(tmp_path: Path) -> None:
    """Two connections of one address hold its share, each with half a request head; a
    third connection of that address takes the quieter one's place. The request that
    place had begun is answered 503 in the share's words, not the whole server's (the
    server has places left for other addresses). CI saw the whole server's words once,
    for a request whose thread had not yet run when a later connection took its place.
    """
    env = {**LONG_WAITS, "TORRENTINO_MAX_CONNECTIONS": "4"}  # two places for each address
    with Server(tmp_path / "torrentino.db", env=env) as server:
        first, second = connect(server), connect(server)
        with first, second:
            first.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\n")
            wait_for(lambda: server.thread_count() == ACCEPTING_THREADS + 1, resources(server))
            second.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\n")
            wait_for(lambda: server.thread_count() == ACCEPTING_THREADS + 2, resources(server))
            response = requests.get(f"{server.url}/api/v1/health", timeout=PATIENCE)
            assert response.status_code == 200, response.text
            reply = parse(until_closed(first))
            second.sendall(b"Connection: close\r\n\r\n")
            assert parse(until_closed(second)).status == 200
    assert_json_error(reply, 503, "server_busy")
    assert reply.headers["retry-after"] == "1"
    assert "this client address is using all the 2 connections" in reply.body["error"]["message"]


NOT_READING = """
import json, sys
from bench.slow_clients import SlowClients
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with SlowClients((host, port), {"not_reading": count}) as clients:
    sys.stdin.read()  # until the test closes this end
print(json.dumps({"connections_opened": clients.connections_opened}))
"""


def test_clients_that_do_not_read_take_at_most_their_address_share(
    other_machine: OtherMachine, tmp_path: Path
) -> None:
    """The red-team finding: 70 clients, all from one address, each pipelining requests
    for a 32 KB answer and never reading one, held all 64 places, and every other
    request got a 503 for as long as they ran. Now they hold at most half the places
    (their address's share), each only until its answer has waited the send timeout,
    and requests from another address (here this machine's loopback) keep getting 200.
    """
    limits = ConnectionLimits()  # make run's defaults: 64 places
    env = {"TORRENTINO_SEND_TIMEOUT_MS": "3000"}  # so they lose and retake places meanwhile
    with Server(
        tmp_path / "torrentino.db", command=[*LAUNCHER, "--host", "0.0.0.0"], env=env
    ) as server:
        ordinary_requests(server, rounds=1)
        attack = subprocess.Popen(
            other_machine.command(
                sys.executable,
                "-c",
                NOT_READING,
                other_machine.server_address,
                str(server.port),
                "70",
            ),
            cwd=PROJECT_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(
                lambda: server.thread_count() >= ACCEPTING_THREADS + limits.max_per_client,
                "the clients that do not read hold their address's share of the places",
            )
            crowded: list[tuple[str, int, float]] = []
            most_threads = 0
            started = time.monotonic()
            # Ordinary requests for longer than the send timeout: the clients that do not
            # read lose their places to it and take them again meanwhile.
            while time.monotonic() - started < 8 or len(crowded) < 30:
                crowded += ordinary_requests(server, rounds=1)
                most_threads = max(most_threads, server.thread_count())
        finally:
            report, _ = attack.communicate("", timeout=PATIENCE)
        assert attack.returncode == 0
        assert json.loads(report)["connections_opened"] > 70  # they were closed and came back
        assert {status for _, status, _ in crowded} == {200, 201}
        assert most_threads <= ACCEPTING_THREADS + limits.max_connections + SPARE_THREADS
    FIGURES.append(
        f"ordinary requests from loopback, 70 clients not reading their answers from another"
        f" address: {describe(crowded)}; server threads at most {most_threads}"
    )


def stalled(socks: list[socket.socket], quiet_seconds: float = 0.5) -> bool:
    """Whether the answers waiting unread on these sockets stopped growing for a while:
    the server's sends to them are stuck."""

    def unread(sock: socket.socket) -> int:
        try:
            return len(sock.recv(1 << 24, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except BlockingIOError:
            return 0

    def waiting() -> list[int]:
        return [unread(sock) for sock in socks]

    before = waiting()
    time.sleep(quiet_seconds)
    return all(before) and waiting() == before


def test_clients_that_do_not_read_their_answers_hold_no_read_turn(tmp_path: Path) -> None:
    # Reads take turns (launcher/read_turns.py), but an answer is sent outside its turn:
    # more clients than there are turns, each stuck sending (its window full, the send
    # timeout long), leave every turn free for an ordinary GET.
    env = {**LONG_WAITS, "TORRENTINO_SEND_TIMEOUT_MS": "120000"}
    with Server(tmp_path / "torrentino.db", env=env) as server:
        stuck = []
        for _ in range(READS_AT_ONCE + 2):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", server.port))
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.send(LARGE_ANSWER * 200)  # far more answers than the buffers hold
            stuck.append(sock)
        try:
            wait_for(lambda: stalled(stuck), "every stuck client's window full")
            reply = requests.get(f"{server.url}/api/v1/tickets", timeout=PATIENCE)
            assert reply.status_code == 200 and reply.json()["total"] == 0
        finally:
            for sock in stuck:
                sock.close()
