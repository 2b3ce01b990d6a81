"""The run loop: simulator -> fault injector -> sink, paced or as fast as possible.

Realtime mode waits for each event's time on the injected clock; backfill sends as fast as
the sink takes them. Both stop on --events, --duration, the end of --days or a stop request
(SIGINT/SIGTERM), then release held faults, flush, and return the record for the ledger.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from producer.behavior import Event
from producer.clock import Clock, format_ms
from producer.data_generator import Simulator, collector_paused
from producer.faults import FaultInjector
from producer.ledger import Tally
from producer.publish import PublishError, Sink

CHUNK = 5_000  # messages per hand-over to the sink; also how often stop and progress are checked
FLUSH_TIMEOUT_S = 600.0

Report = Callable[[str], None]


@dataclass
class RunResult:
    """How a run went: the tally of sent messages, sink confirmations and why it stopped."""

    tally: Tally
    stopped_by: str
    wall_s: float
    first_event_ms: int | None = None
    last_event_ms: int | None = None
    undelivered: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Messages per second of wall time."""
        return self.tally.messages / self.wall_s if self.wall_s > 0 else 0.0


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class Runner:
    """Drives one run; `stop` is set from a signal handler to end it cleanly."""

    def __init__(
        self,
        sim: Simulator,
        sink: Sink,
        clock: Clock,
        report: Report,
        *,
        realtime: bool,
        faults: FaultInjector | None = None,
        duration_s: float | None = None,
        progress_s: float = 5.0,
    ) -> None:
        self.sim, self.sink, self.clock, self.report = sim, sink, clock, report
        self.realtime = realtime
        self.faults = faults
        self.duration_s = duration_s
        self.progress_s = progress_s
        self.stop = threading.Event()
        self.abort = threading.Event()  # a second stop request: give up waiting for deliveries
        self.tally = Tally()
        self._started = 0.0
        self._next_progress = 0.0
        self._last = (0.0, 0)
        self._first_ms: int | None = None
        self._last_ms: int | None = None
        self._sent_ms = sim.start_ms  # event time of the last message sent

    def run(self) -> RunResult:
        """Run until a limit or a stop request; always flush and account for everything."""
        if self.realtime:  # mostly waiting: leave the garbage collector alone
            return self._run()
        with collector_paused():  # as fast as possible, and no reference cycles are made
            return self._run()

    def _run(self) -> RunResult:
        self._started = self.clock.now()
        self._next_progress = self._started + self.progress_s
        self._last = (self._started, 0)
        stopped_by, errors = "end", []
        try:
            for window in self.sim.windows():
                out = self.faults.apply(window) if self.faults else window
                if window:
                    self._first_ms = self._first_ms or window[0][0]
                    self._last_ms = window[-1][0]
                for i in range(0, len(out), CHUNK):
                    chunk = out[i : i + CHUNK]
                    if self.realtime:
                        self._paced(chunk)
                    else:
                        self._send(chunk)
            stopped_by = "events" if self.sim.max_events is not None else "days"
        except _Stop as stop:
            stopped_by = stop.reason
        except PublishError as exc:
            stopped_by, errors = "error", [str(exc)]
        undelivered = self._finish(errors)
        return RunResult(
            tally=self.tally,
            stopped_by=stopped_by,
            wall_s=self.clock.now() - self._started,
            first_event_ms=self._first_ms,
            last_event_ms=self._last_ms,
            undelivered=undelivered,
            errors=errors,
        )

    def _send(self, chunk: list[Event]) -> None:
        self._send_unchecked(chunk)
        self._tick()

    def _paced(self, chunk: list[Event]) -> None:
        """Send each message when the clock reaches its event time (late ones go at once)."""
        start = 0
        now_ms = int(self.clock.now() * 1000)
        for i, event in enumerate(chunk):
            if event[0] <= now_ms:
                continue
            if i > start:
                self._send(chunk[start:i])
                start = i
            while event[0] > now_ms:
                self._tick()
                self.sink.poll()
                self.clock.sleep(min(0.2, (event[0] - now_ms) / 1000))
                now_ms = int(self.clock.now() * 1000)
        if start < len(chunk):
            self._send(chunk[start:])

    def _tick(self) -> None:
        """Between sends: honour stop requests and limits, and report progress."""
        if self.stop.is_set():
            raise _Stop("signal")
        now = self.clock.now()
        if self.duration_s is not None and now - self._started >= self.duration_s:
            raise _Stop("duration")
        if self.progress_s > 0 and now >= self._next_progress:
            self._next_progress = now + self.progress_s
            self.report(self.progress_line(now))

    def progress_line(self, now: float) -> str:
        """One line: totals, current rate, confirmations and simulated time."""
        t0, n0 = self._last
        rate = (self.tally.messages - n0) / (now - t0) if now > t0 else 0.0
        self._last = (now, self.tally.messages)
        d = self.sink.stats
        held = self.faults.holding if self.faults else 0
        return (
            f"{self.tally.messages:,} sent ({rate:,.0f}/s), {d.delivered:,} delivered, "
            f"{d.in_flight:,} in flight, {held:,} held, event time {format_ms(self._sent_ms)}"
        )

    def _finish(self, errors: list[str]) -> int:
        """Release held faults, flush the sink and return how many messages went undelivered."""
        try:
            if self.faults and not errors:
                held = self.faults.drain()
                for i in range(0, len(held), CHUNK):
                    self._send_unchecked(held[i : i + CHUNK])
            deadline = self.clock.now() + FLUSH_TIMEOUT_S
            in_flight = self.sink.flush(1.0)
            waited = 0
            while in_flight and self.clock.now() < deadline and not self.abort.is_set():
                if waited % 10 == 0:
                    self.report(
                        f"waiting for {in_flight:,} deliveries ({self.sink.name}); "
                        "stop again to give up"
                    )
                in_flight = self.sink.flush(1.0)
                waited += 1
            if in_flight:
                errors.append(f"{in_flight:,} messages were never confirmed by {self.sink.name}")
            return in_flight
        except PublishError as exc:
            errors.append(str(exc))
        except KeyboardInterrupt:
            errors.append("interrupted while flushing: messages in flight were not confirmed")
        return self.sink.stats.in_flight

    def _send_unchecked(self, chunk: list[Event]) -> None:
        self.sink.send(chunk)
        self.tally.add(chunk)
        if chunk:
            self._sent_ms = chunk[-1][0]


def result_record(result: RunResult, sink: Sink) -> dict[str, Any]:
    """The delivery part of the ledger."""
    d = sink.stats
    return {
        "delivered": d.delivered,
        "failed_reports": d.failed,
        "resent": d.resent,
        "undelivered": result.undelivered,
    }
