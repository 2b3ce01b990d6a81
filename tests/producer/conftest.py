"""Shared samples for the producer's unit tests: generated once per module, from fixed seeds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from producer.behavior import Event
from producer.clock import parse_instant
from producer.config import BehaviorSettings, TrafficSettings
from producer.data_generator import Simulator

START = parse_instant("2025-01-06")  # a Monday


def generate(
    events: int,
    seed: int = 11,
    rate: float = 50.0,
    behavior: BehaviorSettings | None = None,
    flat: bool = False,
) -> list[Event]:
    """A backfill sample as message tuples."""
    sim = Simulator(
        behavior or BehaviorSettings(),
        TrafficSettings(rate=rate, flat=flat),
        seed,
        START,
        None,
        events,
    )
    return [e for window in sim.windows() for e in window]


@pytest.fixture(scope="session")
def sample() -> list[Event]:
    """30,000 events at the default rate."""
    return generate(30_000)


@pytest.fixture(scope="session")
def parsed(sample: list[Event]) -> list[dict[str, Any]]:
    """The same sample, parsed."""
    return [json.loads(e[2]) for e in sample]
