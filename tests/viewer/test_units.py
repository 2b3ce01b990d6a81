"""Values read as Grafana prints them, for every unit the dashboards use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from viewer.units import auto_decimals, format_value


@pytest.mark.parametrize(
    ("value", "unit", "decimals", "text"),
    [
        (70, "short", 0, "70"),
        (45603, "short", 0, "46 K"),
        (1_250_000, "short", 1, "1.3 Mil"),
        (4.2749, "short", 2, "4.27"),
        (0.0293, "percentunit", 1, "2.9%"),
        (1, "percentunit", 1, "100.0%"),
        (Decimal("2345.5"), "currencyUSD", 0, "$2K"),
        (Decimal("67.574"), "currencyUSD", 2, "$67.57"),
        (-1500, "currencyUSD", 1, "-$1.5K"),
        (32.44, "s", 1, "32.4 s"),
        (125, "s", 0, "2 min"),
        (7200, "s", 0, "2 hour"),
        (13174, "ms", 0, "13 s"),
        (250, "ms", 0, "250 ms"),
        (200, "cps", None, "200 c/s"),
        (0, "short", None, "0"),
        (-0.0001, "short", 1, "0.0"),
    ],
)
def test_format_value(value: float, unit: str, decimals: int | None, text: str) -> None:
    assert format_value(value, unit, decimals) == text


def test_automatic_decimals_follow_the_magnitude() -> None:
    assert auto_decimals(12) == 0
    # Grafana's getDecimalsForValue: two significant places for fractions.
    assert auto_decimals(1.5) == 2
    assert auto_decimals(0.0312) == 4
    assert format_value(0.0312, "short", None) == "0.0312"


def test_date_from_now_reads_like_moment() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    ms = (now - timedelta(seconds=10)).timestamp() * 1000
    assert format_value(ms, "dateTimeFromNow", None, now=now) == "a few seconds ago"
    ms = (now - timedelta(minutes=3)).timestamp() * 1000
    assert format_value(ms, "dateTimeFromNow", None, now=now) == "3 minutes ago"
    assert format_value(now - timedelta(hours=5), "dateTimeFromNow", None, now=now) == "5 hours ago"


def test_nothing_and_text_pass_through() -> None:
    assert format_value(None, "short", 0) == ""
    assert format_value("Books", "short", 0) == "Books"
    assert format_value(float("nan"), "short", 0) == "NaN"
