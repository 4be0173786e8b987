"""The launcher's connection threads: a connection gets a thread of its own at once, a
thread whose connection has ended serves the next one, and idle threads end."""

from __future__ import annotations

import threading

from launcher.worker_threads import WorkerThreads
from tests.helpers import wait_until


class Connections:
    """A stand-in for the server's `process_request_thread`: each 'connection' is an
    event that keeps its thread busy until set."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.served: list[tuple[str, str]] = []  # (connection, the thread that served it)

    def serve(self, request: threading.Event, name: str) -> None:
        with self.lock:
            self.served.append((name, threading.current_thread().name + str(threading.get_ident())))
        request.wait(10)


def test_busy_threads_never_hold_up_a_new_connection() -> None:
    connections = Connections()
    workers = WorkerThreads(connections.serve)
    held = [threading.Event() for _ in range(5)]
    for number, event in enumerate(held):
        workers.run(event, f"c{number}")
    # Five connections open at once: five threads, each serving its own.
    wait_until(lambda: len(connections.served) == 5)
    assert workers.started == 5
    for event in held:
        event.set()
    wait_until(lambda: workers.idle() == 5)
    workers.stop()


def test_a_thread_whose_connection_ended_serves_the_next() -> None:
    connections = Connections()
    workers = WorkerThreads(connections.serve)
    for number in range(20):  # one after another, as fresh connections come
        done = threading.Event()
        done.set()
        workers.run(done, f"c{number}")
        wait_until(lambda: workers.idle() == 1)
    assert workers.started == 1
    assert len({thread for _, thread in connections.served}) == 1
    assert [name for name, _ in connections.served] == [f"c{n}" for n in range(20)]
    workers.stop()


def test_idle_threads_end_after_a_while_and_new_ones_start_when_needed() -> None:
    connections = Connections()
    workers = WorkerThreads(connections.serve, idle_seconds=0.05)
    held = [threading.Event() for _ in range(3)]
    for number, event in enumerate(held):
        workers.run(event, f"c{number}")
    wait_until(lambda: len(connections.served) == 3)
    assert sum(t.name == "connection" for t in threading.enumerate()) >= 3
    for event in held:
        event.set()
    # Their connections over, the three wait a little for another, then end.
    wait_until(lambda: not any(t.name == "connection" for t in threading.enumerate()))
    assert workers.idle() == 0
    done = threading.Event()
    done.set()
    workers.run(done, "later")
    wait_until(lambda: len(connections.served) == 4)
    assert workers.started == 4


def test_stop_ends_the_idle_threads() -> None:
    connections = Connections()
    workers = WorkerThreads(connections.serve)
    done = threading.Event()
    done.set()
    workers.run(done, "only")
    wait_until(lambda: workers.idle() == 1)
    workers.stop()
    wait_until(lambda: not any(t.name == "connection" for t in threading.enumerate()))
