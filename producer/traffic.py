"""Traffic shape: how the session arrival rate moves over the day and the week.

Pure arithmetic on epoch milliseconds; the simulator asks for the multiplier at an instant and
draws exponential gaps between session starts from the shaped rate.
"""

from __future__ import annotations

from producer.config import TrafficSettings

MINUTE_MS = 60_000
WEEK_MINUTES = 7 * 1440
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


class TrafficShape:
    """Multiplier of the base rate per minute of the week; averages exactly 1 over a week."""

    def __init__(self, settings: TrafficSettings) -> None:
        if settings.flat:
            self._table = [1.0] * WEEK_MINUTES
            return
        daily = settings.daily
        offset = round(settings.utc_offset_hours * 60)
        day_mean = sum(daily) / 24
        week_mean = sum(settings.weekly) / 7
        table = []
        for minute in range(WEEK_MINUTES):
            local = minute + offset  # minute of the week in the shop's time
            day, minute_of_day = divmod(local % WEEK_MINUTES, 1440)
            # Linear between hour midpoints, so the curve has no steps.
            pos = (minute_of_day - 30) / 60
            h0 = int(pos // 1)
            frac = pos - h0
            value = daily[h0 % 24] * (1 - frac) + daily[(h0 + 1) % 24] * frac
            table.append(value / day_mean * settings.weekly[day] / week_mean)
        mean = sum(table) / WEEK_MINUTES
        self._table = [v / mean for v in table]

    def at(self, ms: int) -> float:
        """The rate multiplier at epoch milliseconds `ms`."""
        return self._table[(ms // MINUTE_MS + _EPOCH_WEEKDAY * 1440) % WEEK_MINUTES]

    def hour_of_day(self) -> list[float]:
        """Mean multiplier per UTC hour over the week (for the profile)."""
        hours = [0.0] * 24
        for minute, value in enumerate(self._table):
            hours[minute // 60 % 24] += value
        return [h / (7 * 60) for h in hours]
