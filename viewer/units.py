"""Format a panel's values the way Grafana's value formats do (`unit` and `decimals`).

In: a number (or an epoch in ms for date units), the field's unit id and decimals. Out: the text
Grafana would show. The rules follow Grafana's packages/grafana-data/src/valueFormats; units the
dashboards do not use fall back to plain numbers with the unit id as a suffix.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

Number = int | float | Decimal

_SHORT = ["", " K", " Mil", " Bil", " Tri", " Quadr", " Quint", " Sext", " Sept"]
_CURRENCY = ["", "K", "M", "B", "T"]
# Grafana's classic palette, in the order it hands colours to fields.
PALETTE = [
    "#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C",
    "#5794F2", "#B877D9", "#705DA0", "#37872D", "#FADE2A",
]  # fmt: skip


def auto_decimals(value: float) -> int:
    """Return the decimals Grafana picks when a field sets none (getDecimalsForValue)."""
    if value == 0 or not math.isfinite(value):
        return 0
    magnitude = math.floor(math.log10(abs(value)))
    decimals = -magnitude + 1
    norm = value / 10.0 ** (-decimals)
    if abs(norm) > 2.25:
        decimals += 1
    if value % 1 == 0:
        decimals = 0
    return max(0, decimals)


def fixed(value: float, decimals: int | None) -> str:
    """Return `value` with `decimals` places, or Grafana's automatic choice when None."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("-Infinity" if value < 0 else "Infinity")
    places = auto_decimals(value) if decimals is None else max(0, min(20, decimals))
    # JavaScript's toFixed rounds the exact binary value half up; Python's format rounds half even.
    exact = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{exact:f}"
    return text.lstrip("-") if exact == 0 else text


def _scaled(value: float, decimals: int | None, suffixes: list[str], prefix: str = "") -> str:
    size = 0
    scaled = value
    while abs(scaled) >= 1000 and size < len(suffixes) - 1:
        scaled /= 1000
        size += 1
    # Grafana adds decimals for scaled values only when the field sets none.
    return f"{prefix}{fixed(scaled, decimals)}{suffixes[size]}"


def _seconds(value: float, decimals: int | None) -> str:
    steps = [(31536000, "year"), (604800, "week"), (86400, "day"), (3600, "hour"), (60, "min")]
    if abs(value) < 60:
        return f"{fixed(value, decimals)} s"
    for size, name in steps:
        if abs(value) >= size:
            return f"{fixed(value / size, decimals)} {name}"
    return f"{fixed(value, decimals)} s"


def _milliseconds(value: float, decimals: int | None) -> str:
    if abs(value) < 1000:
        return f"{fixed(value, decimals)} ms"
    return _seconds(value / 1000, decimals)


def from_now(epoch_ms: float, now: datetime | None = None) -> str:
    """Return moment.js's fromNow text ("a few seconds ago", "3 minutes ago") for an epoch."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    ago = seconds >= 0
    s = abs(seconds)
    if s < 45:
        text = "a few seconds"
    elif s < 90:
        text = "a minute"
    elif s < 45 * 60:
        text = f"{round(s / 60)} minutes"
    elif s < 90 * 60:
        text = "an hour"
    elif s < 22 * 3600:
        text = f"{round(s / 3600)} hours"
    elif s < 36 * 3600:
        text = "a day"
    else:
        text = f"{round(s / 86400)} days"
    return f"{text} ago" if ago else f"in {text}"


def format_value(
    value: Number | datetime | str | None,
    unit: str | None,
    decimals: int | None,
    now: datetime | None = None,
) -> str:
    """Return the text Grafana shows for `value` in `unit` with `decimals` (None: automatic)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if unit == "dateTimeFromNow":
            return from_now(value.timestamp() * 1000, now)
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str):
        return value
    number = float(value)
    if math.isnan(number):
        return "NaN"
    unit = unit or "short"
    if unit == "short":
        return _scaled(number, decimals, _SHORT)
    if unit == "none":
        return fixed(number, decimals)
    if unit == "percentunit":
        return f"{fixed(number * 100, decimals)}%"
    if unit == "percent":
        return f"{fixed(number, decimals)}%"
    if unit == "currencyUSD":
        sign = "-" if number < 0 else ""
        return sign + _scaled(abs(number), decimals, _CURRENCY, prefix="$")
    if unit == "s":
        return _seconds(number, decimals)
    if unit == "ms":
        return _milliseconds(number, decimals)
    if unit == "cps":
        return _scaled(number, decimals, _SHORT) + " c/s"
    if unit == "dateTimeFromNow":
        return from_now(number, now)
    if unit == "dateTimeAsIso":
        return datetime.fromtimestamp(number / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{fixed(number, decimals)} {unit}"


def axis_format(unit: str | None) -> dict[str, str]:
    """Return Plotly axis settings (tick format, prefix, suffix) close to Grafana's axis labels."""
    unit = unit or "short"
    if unit == "percentunit":
        return {"tickformat": ".0%"}
    if unit == "percent":
        return {"ticksuffix": "%"}
    if unit == "currencyUSD":
        return {"tickprefix": "$", "tickformat": ".3~s"}
    suffixes = {"s": " s", "ms": " ms", "cps": " c/s"}
    if unit in suffixes:
        return {"tickformat": ".3~s", "ticksuffix": suffixes[unit]}
    return {"tickformat": ".3~s"}
