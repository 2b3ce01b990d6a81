"""Grafana's time picker: `from`/`to` as written in a dashboard URL, resolved to UTC instants.

In: `now`, `now-6h`, `now/d`, `now-1d/d`, an epoch in milliseconds (what Grafana puts in a URL
for an absolute range) or an ISO date and time (UTC unless it names a zone). Out: a `TimeRange`.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from viewer.macros import TimeRange

# The quick ranges of Grafana's picker that the view offers, in its order.
QUICK_RANGES: list[tuple[str, str]] = [
    ("now-5m", "Last 5 minutes"),
    ("now-15m", "Last 15 minutes"),
    ("now-1h", "Last 1 hour"),
    ("now-6h", "Last 6 hours"),
    ("now-24h", "Last 24 hours"),
    ("now-7d", "Last 7 days"),
]
_RELATIVE = re.compile(r"now(?:([+-])(\d+)([smhdwMy]))?(?:/([smhdwMy]))?")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Grafana refuses ranges it cannot draw; so does the view (and keeps queries bounded).
MAX_SPAN = timedelta(days=366 * 5)


class TimeRangeError(ValueError):
    """A `from` or `to` that Grafana's picker would not accept."""


def _shift_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _round(moment: datetime, unit: str, up: bool) -> datetime:
    if unit in "smh":
        size = _SECONDS[unit]
        floor = datetime.fromtimestamp(moment.timestamp() // size * size, UTC)
        return floor + timedelta(seconds=size) - timedelta(microseconds=1) if up else floor
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        start, length = day, timedelta(days=1)
        return start + length - timedelta(microseconds=1) if up else start
    if unit == "w":
        start = day - timedelta(days=day.weekday())
        return start + timedelta(days=7, microseconds=-1) if up else start
    start = day.replace(day=1) if unit == "M" else day.replace(month=1, day=1)
    end = _shift_months(start, 1 if unit == "M" else 12) - timedelta(microseconds=1)
    return end if up else start


def resolve(text: str, now: datetime, up: bool = False) -> datetime:
    """Return the instant for one end of the picker; `up` rounds `/unit` to the unit's end."""
    value = text.strip()
    match = _RELATIVE.fullmatch(value)
    if match:
        sign, amount, unit, rounding = match.groups()
        moment = now
        if amount is not None:
            count = int(amount) * (1 if sign == "+" else -1)
            if unit in ("M", "y"):
                if abs(count) > 12 * 1000:
                    raise TimeRangeError(f"{text!r} reaches too far")
                moment = _shift_months(moment, count * (12 if unit == "y" else 1))
            else:
                if abs(count * _SECONDS[unit]) > MAX_SPAN.total_seconds():
                    raise TimeRangeError(f"{text!r} reaches too far")
                moment = moment + timedelta(seconds=count * _SECONDS[unit])
        return _round(moment, rounding, up) if rounding else moment
    if value.isdigit() and len(value) <= 15:
        try:
            return datetime.fromtimestamp(int(value) / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise TimeRangeError(f"{text!r} is not a time Grafana accepts") from None
    try:
        moment = datetime.fromisoformat(value.replace(" ", "T", 1).replace("Z", "+00:00"))
    except ValueError:
        raise TimeRangeError(
            f"{text!r} is not a time: use now-6h, now/d, 2026-12-02 10:00:00 or epoch ms"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Picker:
    """The picker's two ends as written, resolved on demand against the current time."""

    start: str = "now-6h"
    end: str = "now"

    def resolve(self, now: datetime | None = None) -> TimeRange:
        """Return the absolute range, or raise TimeRangeError for a bad or empty range."""
        moment = now or datetime.now(UTC)
        start, end = resolve(self.start, moment), resolve(self.end, moment, up=True)
        if start >= end:
            raise TimeRangeError(f"the range {self.start} .. {self.end} is empty")
        if end - start > MAX_SPAN:
            raise TimeRangeError(f"the range {self.start} .. {self.end} is longer than 5 years")
        return TimeRange(start, end)

    @property
    def label(self) -> str:
        """The quick range's name, or `from to to` for a custom range."""
        if self.end == "now":
            for key, label in QUICK_RANGES:
                if key == self.start:
                    return label
        return f"{self.start} to {self.end}"
