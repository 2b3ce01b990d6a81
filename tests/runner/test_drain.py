"""The Ctrl-C wait: the backlog arithmetic, and how the wait ends (caught up, bound, skipped)."""

from __future__ import annotations

import os
import signal

from runner.drain import Backlog, backlog, wait_for_catch_up


def test_backlog_counts_from_the_oldest_kept_offset() -> None:
    state = backlog(ends={0: 100, 1: 50, 2: 10}, progress={0: 100, 1: 20}, starts={2: 4})
    assert state == Backlog(delivered=100 + 50 + 6, processed=100 + 20 + 0)
    assert state.remaining == 36
    # offsets beyond the end (a recreated topic) never make the backlog negative
    assert backlog({0: 5}, {0: 9}, {}).remaining == 0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_waits_until_the_processor_has_read_everything() -> None:
    clock, lines = Clock(), []
    states = iter([Backlog(10, 4), Backlog(10, 8), Backlog(10, 10)])
    result = wait_for_catch_up(lambda: next(states), lambda: True, 60, lines.append,
                               clock=clock, sleep=clock.sleep)  # fmt: skip
    assert result == "caught up"
    assert "6 of 10 messages left" in lines[0] and "Ctrl-C again skips" in lines[0]
    assert lines[-1] == "the processor has read all 10 messages"


def test_the_wait_is_bounded_and_stops_when_the_processor_dies() -> None:
    clock, lines = Clock(), []
    result = wait_for_catch_up(lambda: Backlog(10, 1), lambda: True, 5, lines.append,
                               clock=clock, sleep=clock.sleep)  # fmt: skip
    assert result == "timed out" and "9 messages still unread" in lines[-1]
    result = wait_for_catch_up(lambda: Backlog(10, 1), lambda: False, 5, lines.append)
    assert result == "exited"


def test_a_second_ctrl_c_skips_the_wait() -> None:
    lines: list[str] = []
    before = signal.getsignal(signal.SIGINT)  # another test's Spark session may have set its own

    def interrupted(_: float) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    result = wait_for_catch_up(lambda: Backlog(10, 1), lambda: True, 60, lines.append,
                               sleep=interrupted)  # fmt: skip
    assert result == "skipped"
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is back


def test_an_unreadable_backlog_does_not_block_the_shutdown() -> None:
    def broken() -> Backlog:
        raise OSError("PostgreSQL went away")

    lines: list[str] = []
    assert wait_for_catch_up(broken, lambda: True, 60, lines.append) == "unknown"
    assert "PostgreSQL went away" in lines[0]
