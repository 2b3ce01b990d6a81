"""Time for the producer: an injectable clock and fast RFC 3339 formatting of event times.

The simulator itself only sees integer milliseconds since the epoch; the wall clock is read by
the run loop (pacing, progress, --duration), and tests pass a manual clock instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from infra.env import ConfigError

DAY_MS = 86_400_000


class Clock(Protocol):
    """What the run loop needs from time: read it in seconds, and wait."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait this long."""
        ...


class WallClock:
    """The real clock."""

    def now(self) -> float:
        """Seconds since the epoch, from the system clock."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        time.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that only moves when told or when someone sleeps on it (for tests)."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start

    def now(self) -> float:
        """The current manual time."""
        return self.t

    def sleep(self, seconds: float) -> None:
        """Advance instead of waiting."""
        self.t += max(0.0, seconds)


class DayPrefixes(dict[int, str]):
    """Day number since the epoch -> `2025-08-19T`, computed on first use."""

    def __missing__(self, day: int) -> str:
        value = self[day] = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%dT")
        return value


# Lookup tables for formatting epoch ms inline on the hot path:
#   DAYS[ms // DAY_MS] + HMS[ms // 1000 % 86400] + MILLIS[ms % 1000]
HMS = tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400))
MILLIS = tuple(f".{m:03d}Z" for m in range(1000))


def timestamp_formatter() -> Callable[[int], str]:
    """A function formatting epoch ms as `2025-08-19T14:05:22.123Z` from lookup tables."""
    days = DayPrefixes()

    def fmt(ms: int) -> str:
        return days[ms // DAY_MS] + HMS[ms // 1000 % 86400] + MILLIS[ms % 1000]

    return fmt


def format_ms(ms: int) -> str:
    """Format epoch milliseconds as RFC 3339 UTC with milliseconds (slow path, for messages)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_instant(text: str) -> int:
    """Parse `2025-08-19`, `2025-08-19T14:00` or a full RFC 3339 time into epoch milliseconds."""
    raw = text.strip().replace("Z", "+00:00")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError(
            f"invalid date {text!r}: write it like 2025-08-19 or 2025-08-19T14:00:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)
