"""The run loop: simulator -> fault injector -> sink, paced or as fast as possible.

Realtime mode hands each event over when the injected clock reaches its time; backfill sends
as fast as the sink takes them. Both stop on --events, --duration, the end of --days or a stop
request (SIGINT/SIGTERM), then release held faults, flush within a bounded time, give up on
what is still unconfirmed, and return the tallies for the ledger.

Events go through the fault injector piece by piece, just before they are handed over, so when
a run stops between pieces everything the injector let out was sent; when a hand-over is cut
short, held faults are not released, and what was sent is a prefix of the stream.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from producer.behavior import AT, Event
from producer.clock import Clock, format_ms
from producer.data_generator import Simulator, collector_paused
from producer.faults import FaultInjector
from producer.ledger import Tally
from producer.publish import OutputClosed, PublishError, Sink
from producer.stopping import StopControl

CHUNK = 5_000  # messages per hand-over to the sink; also how often stop and progress are checked
FLUSH_TIMEOUT_S = 600.0  # at the end of a run that was not stopped: the broker may come back
WAIT_REPORT_S = 10.0

Report = Callable[[str], None]
_time = itemgetter(AT)


@dataclass
class RunResult:
    """How a run went: what got out (`tally`), what was handed over, and why it stopped."""

    tally: Tally  # delivered: handed over minus what the sink lost
    stopped_by: str
    wall_s: float
    handed_over: Tally = field(default_factory=Tally)
    first_event_ms: int | None = None
    last_event_ms: int | None = None
    undelivered: int = 0  # failed for good or never confirmed
    signal: str | None = None  # SIGTERM, SIGINT, ... when a stop request ended the run
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Messages delivered per second of wall time."""
        return self.tally.messages / self.wall_s if self.wall_s > 0 else 0.0


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


BEHIND_S = 5.0  # realtime: a lag of due events behind the clock worth saying (seconds)


def span(seconds: float) -> str:
    """`42 s`, `7 min`, `2 h 5 min`: a duration as a person reads it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


@dataclass(frozen=True)
class Progress:
    """A run's progress as figures: messages handed over, delivered, in flight and held back,
    the event time reached, the share of a known end done (None: no end), the realtime lag."""

    messages: int
    delivered: int
    in_flight: int
    held: int
    event_ms: int
    done: float | None
    lag_ms: int


def progress_text(p: Progress, rate: float, elapsed: float) -> str:
    """The progress line's text for figures `p`, at `rate` messages/s, `elapsed` s into the run."""
    line = (
        f"{p.messages:,} sent ({rate:,.0f}/s), {p.delivered:,} delivered, "
        f"{p.in_flight:,} in flight, {p.held:,} held, event time {format_ms(p.event_ms)}"
    )
    if p.done is not None:
        line += f", {p.done:.0%} done"
        if p.done > 0 and elapsed > 0:
            line += f", ETA {span(elapsed * (1 - p.done) / p.done)}"
    if p.lag_ms >= BEHIND_S * 1000:
        line += (
            f"; BEHIND the clock by {span(p.lag_ms / 1000)}: the producer reaches "
            f"{rate:,.0f} messages/s, short of what --rate asks now (lower --rate, or make "
            "sending cheaper: --delivery-reports errors, more partitions)"
        )
    return line


def pieces(sim: Simulator) -> Iterator[list[Event]]:
    """A backfill's valid events in send order, CHUNK at a time. Each piece goes through the
    fault injector only when it is about to be sent: the injector's state (held events, moved
    first-flags) must never run ahead of what a stop lets out."""
    for window in sim.windows():
        for i in range(0, len(window), CHUNK):
            yield window[i : i + CHUNK]


class _Cut(Exception):
    """The sink took only part of a hand-over because a stop was asked for."""


class Runner:
    """Drives one run; `stop` (or `control.request()`) ends it cleanly, a second stop at once."""

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
        stop: StopControl | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.sim, self.sink, self.clock, self.report = sim, sink, clock, report
        self.realtime = realtime
        self.faults = faults
        self.duration_s = duration_s
        self.progress_s = progress_s
        self.on_progress = on_progress  # progress as figures (--workers), instead of lines
        self.control = stop or StopControl(clock)
        self.stop = self.control.requested
        self.abort = self.control.aborted  # a second stop request: give up waiting
        self.tally = Tally()  # handed over to the sink
        self._cut = False  # a hand-over was cut short: what was sent is a prefix of the stream
        self._started = 0.0
        self._next_progress = 0.0
        self._last = (0.0, 0)
        self._first_ms: int | None = None
        self._sent_ms = sim.start_ms  # event time of the last message handed over
        # Realtime: how far the oldest event due but not yet handed over lags the clock (ms);
        # 0 while the runner waits for the next event. History (warm-up) does not count.
        self._lag_ms = 0

    def run(self) -> RunResult:
        """Run until a limit or a stop request; always settle and account for everything."""
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
            if self.realtime:
                for window in self.sim.windows():
                    self._tick()
                    self._paced(window)
            else:
                for piece in pieces(self.sim):
                    self._tick()
                    self._emit(piece)
                self._tick()
            stopped_by = "events" if self.sim.max_events is not None else "days"
        except (_Stop, _Cut) as stop:
            stopped_by = stop.reason if isinstance(stop, _Stop) else "signal"
        except OutputClosed:
            stopped_by = "output closed"
        except PublishError as exc:
            stopped_by, errors = "error", [str(exc)]
        if stopped_by != "error":
            stopped_by = self._release_held(stopped_by, errors)
        undelivered = self._finish(errors)
        return RunResult(
            tally=self.tally.minus(self.sink.lost),
            handed_over=self.tally,
            stopped_by=stopped_by,
            wall_s=self.clock.now() - self._started,
            first_event_ms=self._first_ms,
            last_event_ms=self._sent_ms if self._first_ms is not None else None,
            undelivered=undelivered,
            signal=self.control.reason if stopped_by == "signal" else None,
            errors=errors,
        )

    def _emit(self, piece: list[Event]) -> None:
        """Pass valid events through the fault injector and hand the messages over."""
        self._send(self.faults.apply(piece) if self.faults else piece)

    def _send(self, out: list[Event]) -> None:
        """Hand messages over to the sink, CHUNK at a time."""
        for i in range(0, len(out), CHUNK):
            self._hand_over(out[i : i + CHUNK])

    def _hand_over(self, batch: list[Event]) -> None:
        """Give the sink a batch and count what it took."""
        try:
            taken = self.sink.send(batch)
        except PublishError as exc:
            self._count(batch[: exc.taken])
            self._cut = True
            raise
        self._count(batch[:taken])
        if taken < len(batch):
            self._cut = True
            raise _Cut

    def _count(self, batch: list[Event]) -> None:
        if batch:
            self.tally.add(batch)
            self._first_ms = self._first_ms if self._first_ms is not None else batch[0][AT]
            self._sent_ms = batch[-1][AT]

    def _paced(self, window: list[Event]) -> None:
        """Hand events over when the clock reaches their time (late ones go at once)."""
        i, n = 0, len(window)
        while i < n:
            now_ms = int(self.clock.now() * 1000)
            due = bisect_right(window, now_ms, lo=i, key=_time)
            if due > i:
                first = window[i][AT]
                self._lag_ms = now_ms - first if first >= self._started * 1000 else 0
                for k in range(i, due, CHUNK):
                    self._emit(window[k : min(due, k + CHUNK)])
                i = due
                self._tick()
                continue
            self._lag_ms = 0
            self._tick()
            self.sink.poll()
            self.clock.sleep(min(0.2, (window[i][AT] - now_ms) / 1000))

    def _tick(self) -> None:
        """Between hand-overs: honour stop requests and limits, and report progress."""
        if self.stop.is_set():
            raise _Stop("signal")
        now = self.clock.now()
        if self.duration_s is not None and now - self._started >= self.duration_s:
            raise _Stop("duration")
        if self.progress_s > 0 and now >= self._next_progress:
            self._next_progress = now + self.progress_s
            if self.on_progress is not None:
                self.on_progress(self.progress_figures(now))
            else:
                self.report(self.progress_line(now))

    def progress_figures(self, now: float) -> Progress:
        """What the progress line says, as figures (summed over the workers of a run)."""
        d = self.sink.stats
        return Progress(
            messages=self.tally.messages,
            delivered=d.delivered,
            in_flight=d.in_flight,
            held=self.faults.holding if self.faults else 0,
            event_ms=self._sent_ms,
            done=self.fraction_done(now),
            lag_ms=self._lag_ms,
        )

    def progress_line(self, now: float) -> str:
        """One line: totals, current rate, confirmations and simulated time."""
        t0, n0 = self._last
        rate = (self.tally.messages - n0) / (now - t0) if now > t0 else 0.0
        self._last = (now, self.tally.messages)
        return progress_text(self.progress_figures(now), rate, now - self._started)

    def fraction_done(self, now: float) -> float | None:
        """How much of a known end is done (--events, --days, --duration), or None."""
        sim = self.sim
        parts: list[float] = []
        if sim.max_events:
            parts.append(sim.emitted / sim.max_events)
        if sim.end_ms is not None and sim.end_ms > sim.start_ms:
            parts.append((self._sent_ms - sim.start_ms) / (sim.end_ms - sim.start_ms))
        if self.duration_s:
            parts.append((now - self._started) / self.duration_s)
        return min(1.0, max(0.0, *parts)) if parts else None  # the nearest end wins

    def _release_held(self, stopped_by: str, errors: list[str]) -> str:
        """Send the late events and duplicates the injector still holds, unless cut short."""
        if not self.faults or self._cut:
            return stopped_by
        held = self.faults.drain()
        try:
            self._send(held)
        except _Cut:
            return "signal"
        except OutputClosed:
            return "output closed"
        except PublishError as exc:
            errors.append(str(exc))
            return "error"
        return stopped_by

    def _finish(self, errors: list[str]) -> int:
        """Flush (bounded once a stop is asked for), give up on the rest, return it."""
        deadline = self.clock.now() + FLUSH_TIMEOUT_S
        next_report = self.clock.now() + 1.0
        try:
            while self.sink.flush(1.0):
                stop_at = self.control.deadline()
                now = self.clock.now()
                if now >= (deadline if stop_at is None else min(deadline, stop_at)):
                    break
                if now >= next_report:
                    next_report = now + WAIT_REPORT_S
                    how = (
                        "stop again to give up at once"
                        if self.stop.is_set()
                        else f"Ctrl-C or SIGTERM gives up within {self.control.timeout_s:g} s"
                    )
                    self.report(
                        f"waiting for {self.sink.stats.in_flight:,} deliveries "
                        f"({self.sink.name}); {how}"
                    )
        except PublishError as exc:
            errors.append(str(exc))
        self.sink.settle()
        if unknown := self.sink.stats.in_flight:  # never reported: cannot be counted either way
            errors.append(
                f"{unknown:,} messages were never reported by {self.sink.name}: the ledger "
                "counts them as delivered, which may be wrong"
            )
        return self.sink.stats.undelivered


def result_record(result: RunResult, sink: Sink) -> dict[str, Any]:
    """The delivery part of the ledger."""
    d = sink.stats
    return {
        "delivered": d.delivered,
        "failed_reports": d.failed_reports,
        "resent": d.resent,
        "undelivered": d.undelivered,
        "failed": d.failed,
        "queued": d.queued,
        "handed_over": result.handed_over.messages,
        "torn_bytes": d.torn_bytes,
    }
