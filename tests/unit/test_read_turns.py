"""Reads take turns: at most so many run at once, the rest wait and then run, and a turn
is given back however the work ends."""

from __future__ import annotations

import functools
import threading
import time

import pytest

from launcher.read_turns import ReadTurns
from tests.helpers import wait_until


class Reads:
    """Work that holds its turn until released, counting how many run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.done = 0
        self.release = threading.Event()

    def work(self) -> str:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.release.wait(10)
        with self.lock:
            self.running -= 1
            self.done += 1
        return "answer"


def test_no_more_than_the_turns_run_at_once_and_every_one_runs() -> None:
    turns, reads = ReadTurns(2), Reads()
    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda: answers.append(turns.run(reads.work))) for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: reads.running == 2)
    time.sleep(0.1)  # the other three are waiting, not running
    assert reads.running == 2 and reads.done == 0
    reads.release.set()
    for thread in threads:
        thread.join(10)
    assert reads.most == 2 and reads.done == 5 and answers == ["answer"] * 5


def test_a_turn_is_given_back_when_the_work_raises() -> None:
    turns = ReadTurns(1)

    def fails() -> None:
        raise RuntimeError("the route failed")

    with pytest.raises(RuntimeError, match="the route failed"):
        turns.run(fails)
    assert turns.run(lambda: "next") == "next"  # would wait forever had the turn been kept


def test_turns_go_to_those_waiting_in_the_order_they_came() -> None:
    turns, order = ReadTurns(1), []
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        holding.set()
        release.wait(10)

    def hold_then_come_again() -> None:
        turns.run(hold)
        turns.run(lambda: order.append("again"))  # at once: behind those already waiting

    first = threading.Thread(target=hold_then_come_again)
    first.start()
    holding.wait(10)
    waiters = []
    for name in ("a", "b", "c"):
        waiter = threading.Thread(target=turns.run, args=(lambda n=name: order.append(n),))
        waiter.start()
        waiters.append(waiter)
        wait_until(functools.partial(lambda n: turns.waiting() == n, len(waiters)))
    release.set()
    for thread in (first, *waiters):
        thread.join(10)
    assert order == ["a", "b", "c", "again"] and turns.waiting() == 0
