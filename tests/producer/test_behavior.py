"""The behaviour model lands in the target ranges on a large sample, and traffic has its cycles."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from producer.clock import parse_instant
from producer.config import BehaviorSettings, TrafficSettings
from producer.data_generator import Simulator
from producer.profile import TARGETS, Profile, measure
from producer.traffic import TrafficShape


@pytest.fixture(scope="module")
def profile() -> Profile:
    """A week of 100,000 events with ground-truth visitor types."""
    start = parse_instant("2025-01-06")
    traffic = TrafficSettings(rate=100_000 / (7 * 86400) * 1.02)
    sim = Simulator(BehaviorSettings(), traffic, 3, start, None, 100_000)
    visitors: dict[str, bool] = {}
    sim.model.observer = visitors
    events = [json.loads(e[2]) for w in sim.windows() for e in w]
    return measure(events, visitors)


@pytest.mark.parametrize(
    ("key", "label", "low", "high", "unit"), TARGETS, ids=[t[0] for t in TARGETS]
)
def test_statistic_is_in_its_target_range(
    profile: Profile, key: str, label: str, low: float, high: float, unit: str
) -> None:
    value = profile.rates()[key]
    assert low <= value <= high, f"{label}: {value:.4f} not in [{low}, {high}]"


def test_conversion_ordering(profile: Profile) -> None:
    r = profile.rates()
    assert r["conversion_desktop"] > r["conversion_mobile"]
    assert r["conversion_returning"] > 2 * r["conversion_new"]
    assert 0.25 < r["share_returning"] < 0.45


def test_traffic_shape_averages_one_and_has_night_and_weekend_lows() -> None:
    shape = TrafficShape(TrafficSettings())
    week = [shape.at(parse_instant("2025-01-06") + m * 60_000) for m in range(7 * 1440)]
    assert sum(week) / len(week) == pytest.approx(1.0)
    monday = week[:1440]
    assert min(monday) < 0.35 * max(monday)
    assert sum(week[5 * 1440 :]) / 2 < sum(week[: 5 * 1440]) / 5  # weekend days are lower
    flat = TrafficShape(TrafficSettings(flat=True))
    assert {flat.at(m * 3_600_000) for m in range(200)} == {1.0}


def test_utc_offset_moves_the_peak() -> None:
    utc = TrafficShape(TrafficSettings()).hour_of_day()
    shifted = TrafficShape(TrafficSettings(utc_offset_hours=-5)).hour_of_day()
    assert (utc.index(max(utc)) + 5) % 24 == shifted.index(max(shifted))


def test_rate_sets_how_many_events_a_day_holds() -> None:
    start = parse_instant("2025-01-06")
    sim = Simulator(BehaviorSettings(), TrafficSettings(rate=0.5), 1, start, start + 86_400_000)
    total = sum(len(w) for w in sim.windows())
    assert 0.9 * 0.5 * 86400 < total < 1.1 * 0.5 * 86400


def test_more_products_spread_views_but_stay_skewed() -> None:
    start = parse_instant("2025-01-06")
    behavior = replace(BehaviorSettings(), products=5000)
    sim = Simulator(behavior, TrafficSettings(rate=50), 2, start, None, 20_000)
    p = measure([json.loads(e[2]) for w in sim.windows() for e in w], None)
    assert p.rates()["top_10pct_product_view_share"] > 0.35
