"""Realtime warm start: sessions already under way, so the rate and the funnel hold from second one.

Runs the real Runner on a manual clock (no sleeping): the first simulated minutes must be at
the target rate, with purchases at the funnel's share, and the ledger must stay exact although
the sessions in progress at the start lost their first events (`--warm-up-mode simulate`).
With `send` (the default) the warm-up hour goes out first as history, at once: every session
that buys after the start has its cart downstream, and the cart abandonment of the first
minutes is the shop's, not the ~95% of carts whose beginning was never sent.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from producer.behavior import Event
from producer.clock import ManualClock, parse_instant
from producer.config import BehaviorSettings, RunSettings, Settings, TrafficSettings
from producer.data_generator import Simulator
from producer.models import ORDER_FIRST, PURCHASE, TYPE_MASK
from producer.producer import WARM_UP_MAX_EVENTS, produce, simulator, warm_up_ms
from producer.run import Runner
from tests.producer.test_output import ListSink

START = parse_instant("2025-05-05T12:00:00Z")
RATE = 100.0
SEND_RATE = 25.0  # enough carts for a stable abandonment share, a fifth of the work
MINUTE = 60_000
HOUR = 60 * MINUTE


def run_realtime(warm_up_s: float, seconds: float, seed: int = 8) -> list[Event]:
    """Events sent by a realtime run of `seconds` on the manual clock."""
    clock = ManualClock(START / 1000)
    traffic = TrafficSettings(rate=RATE, flat=True)
    sim = Simulator(BehaviorSettings(), traffic, seed, START, None, None, int(warm_up_s * 1000))
    sink = ListSink(clock)
    runner = Runner(sim, sink, clock, lambda _: None, realtime=True, duration_s=seconds)
    assert runner.run().stopped_by == "duration"
    return [e for _, e in sink.sent]


def run_mode(mode: str, seconds: float, rate: float = SEND_RATE) -> list[tuple[float, Event]]:
    """(clock time, event) of a realtime run with the producer's own warm start of an hour."""
    settings = Settings(
        run=RunSettings(warm_up_mode=mode), traffic=TrafficSettings(rate=rate, flat=True)
    )
    clock = ManualClock(START / 1000)
    sim = simulator(settings, 8, START, None, warm_up_ms(settings))
    sink = ListSink(clock)
    runner = Runner(sim, sink, clock, lambda _: None, realtime=True, duration_s=seconds)
    assert runner.run().stopped_by == "duration"
    return sink.sent


@pytest.fixture(scope="module")
def warm() -> list[Event]:
    """Five minutes of a realtime run that warmed up over the hour before."""
    return run_realtime(3600, 300)


def per_minute(events: list[Event], minutes: int) -> list[int]:
    counts = Counter((e[0] - START) // MINUTE for e in events)
    return [counts[m] for m in range(minutes)]


def test_the_first_minute_is_at_the_target_rate(warm: list[Event]) -> None:
    events = warm
    assert all(e[0] >= START for e in events)
    target = RATE * 60
    for minute, count in enumerate(per_minute(events, 5)):
        assert abs(count - target) < 0.3 * target, (minute, count)


def test_a_cold_start_ramps_up_instead() -> None:
    first = per_minute(run_realtime(0, 60), 1)[0]
    assert first < 0.6 * RATE * 60  # why warm starts exist: most sessions have not got far yet


def test_orders_appear_in_the_first_minute_at_the_funnel_rate(
    warm: list[Event], sample: list[Event]
) -> None:
    events = [e for e in warm if e[0] < START + 3 * MINUTE]
    first_minute = [e for e in events if e[0] < START + MINUTE]
    assert sum(1 for e in first_minute if e[1] & ORDER_FIRST) >= 5  # ~0.4% of 6,000 events
    # Over the first three minutes, purchase lines and orders per event match a long backfill.
    for flag, mask in ((PURCHASE, TYPE_MASK), (ORDER_FIRST, ORDER_FIRST)):
        expected = sum(1 for e in sample if e[1] & mask == flag) / len(sample)
        share = sum(1 for e in events if e[1] & mask == flag) / len(events)
        assert 0.5 * expected < share < 2.0 * expected, (flag, share, expected)


def test_the_ledger_counts_sessions_users_and_orders_exactly() -> None:
    assert_ledger_exact(run_realtime(1800, 240, seed=3))


def assert_ledger_exact(events: list[Event]) -> None:
    """The flags the ledger counts by mark exactly one event of each session, user and order."""
    codes: Counter[int] = Counter(e[1] for e in events)
    sessions = sum(n for code, n in codes.items() if code & 4)
    users = sum(n for code, n in codes.items() if code & 8)
    orders = sum(n for code, n in codes.items() if code & ORDER_FIRST)
    parsed = [json.loads(e[2]) for e in events]
    assert sessions == len({e["session_id"] for e in parsed})
    assert users == len({e["user_id"] for e in parsed})
    assert orders == len({e["order_id"] for e in parsed if e["order_id"]})
    # The first event of each session in the stream carries the session flag.
    seen: set[str] = set()
    for event, data in zip(events, parsed, strict=True):
        assert bool(event[1] & 4) == (data["session_id"] not in seen)
        seen.add(data["session_id"])


def test_a_warm_start_is_deterministic() -> None:
    def first_windows(seed: int) -> list[str]:
        sim = Simulator(
            BehaviorSettings(), TrafficSettings(rate=RATE), seed, START, None, 5_000, 900_000
        )
        return [e[2] for window in sim.windows() for e in window]

    a = first_windows(5)
    assert a == first_windows(5) and a != first_windows(6)
    assert json.loads(a[0])["timestamp"] >= "2025-05-05T12:00:00.000Z"


def test_warm_up_only_in_realtime_and_bounded() -> None:
    realtime = Settings(run=RunSettings(mode="realtime", warm_up_s=3600.0))
    assert warm_up_ms(realtime) == 3_600_000
    assert warm_up_ms(replace(realtime, run=RunSettings(mode="backfill"))) == 0
    fast = replace(realtime, traffic=TrafficSettings(rate=50_000))
    assert warm_up_ms(fast) == int(WARM_UP_MAX_EVENTS / 50_000 * 1000)


@pytest.fixture(scope="module")
def sent() -> list[tuple[float, Event]]:
    """A realtime run with `send`: the hour before the start, then 3 minutes paced."""
    return run_mode("send", 180)


@pytest.fixture(scope="module")
def unsent() -> list[Event]:
    """The same run with `simulate`: the hour is simulated, not sent."""
    return [e for _, e in run_mode("simulate", 180)]


def test_send_starts_the_stream_an_hour_early_and_sends_that_hour_at_once(
    sent: list[tuple[float, Event]],
) -> None:
    first = sent[0][1][0]
    assert START - HOUR <= first < START - HOUR + MINUTE
    history = [(at, e) for at, e in sent if e[0] < START]
    assert len(history) > 0.8 * SEND_RATE * 3600  # a cold start ramps up over its first minutes
    assert all(at == START / 1000 for at, _ in history)  # no pacing: the clock never moved
    assert max(e[0] for _, e in sent) >= START + 2 * MINUTE  # then realtime follows
    assert [e[0] for _, e in sent] == sorted(e[0] for _, e in sent)


def carts_and_orders(events: list[Event]) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Per session: time of its last event, its first add_to_cart, its first purchase."""
    last: dict[str, int] = {}
    cart: dict[str, int] = {}
    buy: dict[str, int] = {}
    for t, _, text, sid, _ in events:
        last[sid] = t
        kind = json.loads(text)["event_type"]
        if kind == "add_to_cart":
            cart.setdefault(sid, t)
        elif kind == "purchase":
            buy.setdefault(sid, t)
    return last, cart, buy


def test_with_send_every_purchase_after_the_start_has_its_cart(
    sent: list[tuple[float, Event]], unsent: list[Event]
) -> None:
    _, cart, buy = carts_and_orders([e for _, e in sent])
    after = {sid for sid, t in buy.items() if t >= START}
    assert len(after) > 10
    assert all(sid in cart and cart[sid] < buy[sid] for sid in after)
    _, cart, buy = carts_and_orders(unsent)  # why `send` is the default: carts went missing
    assert sum(1 for sid in buy if sid not in cart) > 0.3 * len(buy)


def abandonment(events: list[Event], t: int) -> tuple[float, int]:
    """The live KPI at newest event time t, and its sample: carted sessions active in
    (t - 1 h, t] without a purchase, over carted sessions active then (refresh_dashboard.sql)."""
    last, cart, buy = carts_and_orders([e for e in events if e[0] <= t])
    carted = [sid for sid in cart if last[sid] > t - HOUR]
    return sum(1 for sid in carted if sid not in buy) / max(1, len(carted)), len(carted)


def test_with_send_cart_abandonment_is_realistic_from_the_first_minute(
    sent: list[tuple[float, Event]], unsent: list[Event]
) -> None:
    events = [e for _, e in sent]
    for minutes in (0.5, 1.0, 2.5):
        share, carted = abandonment(events, START + int(minutes * MINUTE))
        assert carted > 500 and 0.55 <= share <= 0.80, (minutes, share, carted)
    share, carted = abandonment(unsent, START + int(2.5 * MINUTE))
    assert carted > 20 and share > 0.85, (share, carted)  # the 92.7% on the live view


def test_with_send_the_ledger_counts_exactly(sent: list[tuple[float, Event]]) -> None:
    assert_ledger_exact([e for _, e in sent])


def test_send_is_deterministic() -> None:
    def first_events(seed: int) -> list[str]:
        settings = Settings(traffic=TrafficSettings(rate=RATE))
        sim = simulator(
            replace(settings, run=RunSettings(events=5_000)), seed, START, None, 900_000
        )
        return [e[2] for window in sim.windows() for e in window]

    a = first_events(5)
    assert a == first_events(5) and a != first_events(6)
    assert json.loads(a[0])["timestamp"].startswith("2025-05-05T11:45:")


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("send", "warm start: sending the last 10 min as history first"),
        ("simulate", "warm start (sessions of the 10 min before under way, unsent)"),
    ],
)
def test_produce_says_what_the_warm_start_does(
    mode: str, says: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "events.jsonl"
    settings = Settings(
        run=RunSettings(seed=4, warm_up_s=600.0, warm_up_mode=mode, duration_s=2, progress_s=0),
        traffic=TrafficSettings(rate=5.0, flat=True),
    )
    settings = replace(settings, output=replace(settings.output, kind="jsonl", path=str(out)))
    result, record = produce(settings, ManualClock(START / 1000), START)
    assert says in capfd.readouterr().err
    lines = out.read_text().splitlines()
    assert len(lines) == record["events"]["total"] == result.tally.messages > 0
    first = json.loads(lines[0])["timestamp"]
    assert (first < "2025-05-05T11:51:00") == (mode == "send")  # ten minutes of history, or none
