"""Stop requests: the first SIGINT/SIGTERM asks the run to stop, a second one gives up waiting.

Signal handlers only set flags. The run loop, the sinks and the final flush read them, so
every wait after a first request ends within `timeout_s`, and at once after a second.
"""

from __future__ import annotations

import itertools
import signal
import threading
from collections.abc import Callable

from producer.clock import Clock

Report = Callable[[str], None]


class StopControl:
    """Whether a stop was asked for, and whether waiting for unconfirmed messages is over."""

    def __init__(self, clock: Clock, timeout_s: float = 5.0) -> None:
        self.clock = clock
        self.timeout_s = timeout_s
        self.requested = threading.Event()  # first request: send nothing new, flush, finish
        self.aborted = threading.Event()  # second request: give up waiting at once
        self.reason = "signal"  # what asked: SIGTERM, SIGINT, ...
        self._deadline: float | None = None
        self._requests = itertools.count()

    def request(self, reason: str = "signal") -> bool:
        """Ask the run to stop; a second call gives up waiting. True for the first call.

        Safe against a second signal arriving in the middle (handlers can nest): the count is
        taken in one step, and the flags are only ever set.
        """
        if next(self._requests):
            self.aborted.set()
            return False
        self.reason = reason
        self._deadline = self.clock.now() + self.timeout_s
        self.requested.set()
        return True

    def give_up(self) -> None:
        """Stop waiting at once, as a second request would (a sink knows waiting is futile)."""
        self.aborted.set()

    def is_requested(self) -> bool:
        """True once a stop was asked for."""
        return self.requested.is_set()

    def deadline(self) -> float | None:
        """When waiting for unconfirmed messages ends (clock seconds); None while not stopping.

        Counted from the moment the stop is first noticed, so a flag set from any thread works.
        """
        if self.aborted.is_set():
            return self.clock.now()
        if not self.requested.is_set():
            return None
        if self._deadline is None:
            self._deadline = self.clock.now() + self.timeout_s
        return self._deadline

    def expired(self) -> bool:
        """True when a stop was asked and its waiting time is over (or it was asked twice)."""
        deadline = self.deadline()
        return deadline is not None and self.clock.now() >= deadline


def handle_signals(stop: StopControl, report: Report) -> Callable[[], None]:
    """Route SIGINT and SIGTERM to `stop`; return a function that puts the old handlers back."""

    def on_signal(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if stop.request(name):  # the flag first: another signal may interrupt this handler
            report(
                f"{name}: stopping; waiting up to {stop.timeout_s:g} s for unconfirmed "
                "messages (stop again to give up at once)"
            )
        else:
            report(f"{name} again: giving up on unconfirmed messages, writing the ledger")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
