"""The picker's `from`/`to` texts resolve as Grafana resolves them, and bad ones are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from viewer.timerange import Picker, TimeRangeError, resolve

NOW = datetime(2026, 12, 2, 21, 37, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("now-6h", NOW - timedelta(hours=6)),
        ("now-15m", NOW - timedelta(minutes=15)),
        ("now-7d", NOW - timedelta(days=7)),
        ("now/d", datetime(2026, 12, 2, tzinfo=UTC)),
        ("now-1d/d", datetime(2026, 12, 1, tzinfo=UTC)),
        ("now-1M", datetime(2026, 11, 2, 21, 37, 12, tzinfo=UTC)),
        ("1764700000000", datetime.fromtimestamp(1764700000, UTC)),
        ("2026-12-02 10:00:00", datetime(2026, 12, 2, 10, tzinfo=UTC)),
        ("2026-12-02T10:00:00+01:00", datetime(2026, 12, 2, 9, tzinfo=UTC)),
    ],
)
def test_resolve(text: str, expected: datetime) -> None:
    assert resolve(text, NOW) == expected


def test_rounding_up_ends_at_the_unit_end() -> None:
    assert resolve("now/d", NOW, up=True) == datetime(2026, 12, 3, tzinfo=UTC) - timedelta(
        microseconds=1
    )


@pytest.mark.parametrize("text", ["yesterday", "now-", "now-6x", "now-999999999d", "", "9" * 40])
def test_bad_times_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(TimeRangeError):
        resolve(text, NOW)


def test_empty_and_reversed_ranges_are_refused() -> None:
    with pytest.raises(TimeRangeError, match="empty"):
        Picker("now", "now-1h").resolve(NOW)
    span = Picker("now-1h", "now").resolve(NOW)
    assert span.end - span.start == timedelta(hours=1)
    assert Picker("now-1h", "now").label == "Last 1 hour"
    assert Picker("now-3h", "now-1h").label == "now-3h to now-1h"
