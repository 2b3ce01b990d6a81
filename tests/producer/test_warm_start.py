"""Realtime warm start: sessions already under way, so the rate and the funnel hold from second one.

Runs the real Runner on a manual clock (no sleeping): the first simulated minutes must be at
the target rate, with purchases at the funnel's share, and the ledger must stay exact although
the sessions in progress at the start lost their first events.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import pytest

from producer.behavior import Event
from producer.clock import ManualClock, parse_instant
from producer.config import BehaviorSettings, RunSettings, Settings, TrafficSettings
from producer.data_generator import Simulator
from producer.models import ORDER_FIRST, PURCHASE, TYPE_MASK
from producer.producer import WARM_UP_MAX_EVENTS, warm_up_ms
from producer.run import Runner
from tests.producer.test_output import ListSink

START = parse_instant("2025-05-05T12:00:00Z")
RATE = 100.0
MINUTE = 60_000


def run_realtime(warm_up_s: float, seconds: float, seed: int = 8) -> list[Event]:
    """Events sent by a realtime run of `seconds` on the manual clock."""
    clock = ManualClock(START / 1000)
    traffic = TrafficSettings(rate=RATE, flat=True)
    sim = Simulator(BehaviorSettings(), traffic, seed, START, None, None, int(warm_up_s * 1000))
    sink = ListSink(clock)
    runner = Runner(sim, sink, clock, lambda _: None, realtime=True, duration_s=seconds)
    assert runner.run().stopped_by == "duration"
    return [e for _, e in sink.sent]


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
    events = run_realtime(1800, 240, seed=3)
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
