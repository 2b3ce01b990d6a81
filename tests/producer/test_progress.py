"""The progress line says how much is done and when it ends, and warns when realtime falls
behind the clock (on a manual clock: no Kafka, no waiting)."""

from __future__ import annotations

from producer.clock import ManualClock, parse_instant
from producer.config import BehaviorSettings, TrafficSettings
from producer.data_generator import Simulator
from producer.run import Runner, span
from tests.producer.test_output import ListSink

START = parse_instant("2025-05-05T12:00:00Z")


class SlowSink(ListSink):
    """Takes `seconds` of the clock per message: a producer that cannot keep up."""

    def __init__(self, clock: ManualClock, seconds: float) -> None:
        super().__init__(clock)
        self.seconds = seconds

    def send(self, batch: list) -> int:  # type: ignore[type-arg]
        taken = super().send(batch)
        self.clock.sleep(self.seconds * taken)
        return taken


def runner(
    rate: float, sink_seconds: float, duration_s: float | None = None, events: int | None = None
) -> tuple[Runner, list[str]]:
    clock = ManualClock(START / 1000)
    traffic = TrafficSettings(rate=rate, flat=True)
    sim = Simulator(BehaviorSettings(), traffic, 8, START, None, events)
    lines: list[str] = []
    sink = SlowSink(clock, sink_seconds)
    run = Runner(sim, sink, clock, lines.append, realtime=True, progress_s=5, duration_s=duration_s)
    return run, lines


def test_a_known_end_gives_percent_done_and_an_eta() -> None:
    run, lines = runner(20, 0.0, duration_s=60)
    run.run()
    progress = [x for x in lines if " sent (" in x]
    assert progress, lines
    assert "% done, ETA" in progress[0]
    assert all("BEHIND" not in x for x in progress)  # it keeps up
    shares = [int(x.split("% done")[0].rsplit(", ", 1)[1]) for x in progress]
    assert shares == sorted(shares) and 0 < shares[0] < shares[-1] <= 100


def test_an_event_count_is_an_end_too_and_no_end_gives_no_percent() -> None:
    run, lines = runner(20, 0.0, events=300)
    run.run()
    assert any("% done" in x for x in lines if " sent (" in x)
    assert run.fraction_done(0) == 1.0
    endless, _ = runner(20, 0.0)  # realtime without --events or --duration: never ends
    assert endless.fraction_done(START / 1000 + 60) is None
    assert "% done" not in endless.progress_line(START / 1000 + 60)


def test_realtime_that_cannot_keep_up_says_so() -> None:
    # 200 events/s asked (a cold start ramps up to it), 50 ms per message: 20 messages/s at most.
    run, lines = runner(200, 0.05, duration_s=120)
    run.run()
    behind = [x for x in lines if "BEHIND the clock by" in x]
    assert behind, lines
    assert "short of what --rate asks" in behind[-1]


def test_spans_read_as_a_person_says_them() -> None:
    assert [span(s) for s in (4.2, 89, 600, 7500)] == ["4 s", "89 s", "10 min", "2 h 5 min"]
