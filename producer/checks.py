"""Every numeric setting's range, and the text that names it in all the places it can be set.

In: a value from a flag, an environment variable or a config file. Out: the number, or a
ConfigError naming the flag, variable and config key, the allowed range and a valid example.
One table holds the limits, so the three ways in cannot drift apart.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, TypedDict

from infra.env import ConfigError, parse_duration


@dataclass(frozen=True)
class Limit:
    """A numeric setting: config key, flag and variable, closed range [low, high], an example."""

    key: str  # section.field
    low: float
    high: float
    example: str  # a valid value as written after the flag (or in the file, without a flag)
    flag: str = ""
    env: str = ""
    integer: bool = False
    above: bool = False  # low itself is not allowed
    duration: bool = False  # flags and variables take 30s, 20m, 2h; files take seconds

    @property
    def label(self) -> str:
        """`--rate (PRODUCER_RATE, config traffic.rate)`: every name the setting goes by."""
        names = [n for n in (self.flag, self.env) if n]
        config = f"config {self.key}" + (", in seconds" if self.duration else "")
        return f"{names[0]} ({', '.join([*names[1:], config])})" if names else config

    @property
    def for_example(self) -> str:
        """A valid setting in the first form the label names."""
        if self.flag:
            return f"{self.flag} {self.example}"
        section, name = self.key.split(".")
        return f"{name} = {self.example} under [{section}]"

    def rule(self) -> str:
        """The allowed range, in words."""
        kind = "a whole number" if self.integer else "a number"
        if self.duration:
            kind = "a duration"
        elif (self.low, self.high) == (0, 1):
            kind = "a probability"
        show = _duration if self.duration else _show
        if self.above:
            return f"{kind} above {show(self.low)} and at most {show(self.high)}"
        return f"{kind} from {show(self.low)} to {show(self.high)}"


def _show(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size):,}{unit}"
    return f"{seconds:g}s"


class _Range(TypedDict):
    low: float
    high: float


class _Kind(TypedDict, total=False):
    integer: bool
    duration: bool


DAY = 86_400.0
P: _Range = {"low": 0.0, "high": 1.0}  # a probability
D: _Kind = {"duration": True}
N: _Kind = {"integer": True}
LIMITS = {
    limit.key: limit
    for limit in (
        Limit("traffic.rate", 0.0, 1_000_000, "50", "--rate", "PRODUCER_RATE", above=True),
        Limit("traffic.utc_offset_hours", -14, 14, "2"),
        Limit("run.seed", 0, 2**63 - 1, "42", "--seed", "PRODUCER_SEED", **N),
        Limit("run.events", 0, 10**12, "100000", "--events", **N),
        Limit("run.workers", 1, 64, "2", "--workers", "PRODUCER_WORKERS", **N),
        Limit("run.days", 0, 36_500, "7", "--days", above=True),
        Limit("run.duration_s", 0, 3650 * DAY, "20m", "--duration", **D),
        Limit("run.warm_up_s", 0, DAY, "1h", "--warm-up", "PRODUCER_WARM_UP", **D),
        Limit("run.progress_s", 0, DAY, "5s", "--progress", "PRODUCER_PROGRESS_INTERVAL", **D),
        Limit("run.stop_timeout_s", 0, 600, "5s", "--stop-timeout", "PRODUCER_STOP_TIMEOUT", **D),
        Limit("behavior.users", 1, 1_000_000, "5000", "--users", "PRODUCER_MAX_USERS", **N),
        Limit("behavior.products", 1, 100_000, "500", "--products", "PRODUCER_MAX_PRODUCTS", **N),
        Limit("faults.duplicates", **P, example="0.01", flag="--duplicates"),
        Limit("faults.late", **P, example="0.02", flag="--late"),
        Limit("faults.malformed", **P, example="0.005", flag="--malformed"),
        Limit("faults.max_lateness_s", 0, DAY, "10m", "--max-lateness", **D),
        Limit("faults.duplicate_delay_s", 0, DAY, "2"),
        Limit("behavior.returning_share", **P, example="0.35"),
        Limit("behavior.returning_conversion", 0, 100, "3", above=True),
        Limit("behavior.bounce_rate", **P, example="0.42"),
        Limit("behavior.add_to_cart_rate", **P, example="0.042"),
        Limit("behavior.go_to_cart_after_add", **P, example="0.55"),
        Limit("behavior.cart_to_checkout", **P, example="0.65"),
        Limit("behavior.checkout_to_purchase", **P, example="0.75"),
        Limit("behavior.cart_item_removed", **P, example="0.1"),
        Limit("behavior.exit_after_purchase", **P, example="0.85"),
        Limit("behavior.popularity_exponent", 0, 10, "1.0"),
        Limit("behavior.think_time_median_s", 0, DAY, "22", above=True),
        Limit("behavior.think_time_sigma", 0, 10, "1.1"),
        Limit("behavior.max_session_events", 1, 10_000, "200", **N),
    )
}
# --start (config run.start_ms, epoch ms): checked against the clock in producer.cli.
START_MS = Limit("run.start_ms", 0, 4_102_444_800_000, "2025-08-01", "--start", integer=True)
# Lists of numbers: (length, lowest allowed, whether the lowest is excluded, example).
VECTORS = {
    "behavior.device_mix": (3, 0.0, False, "[0.67, 0.28, 0.05]"),
    "behavior.device_conversion": (3, 0.0, True, "[0.5, 1.0, 0.8]"),
    "behavior.engagement": (2, 0.0, True, "[7.5, 2.5]"),
    "traffic.daily": (24, 0.0, False, "24 hourly multipliers such as [0.5, 0.4, ...]"),
    "traffic.weekly": (7, 0.0, False, "[1.04, 1.05, 1.05, 1.04, 0.99, 0.9, 0.93]"),
}
WARM_UP_MODES = ("send", "simulate")  # realtime warm start: send the span as history, or not
COMPRESSION = ("lz4", "zstd", "snappy", "gzip", "none")
TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
# Examples for the flags without a numeric limit, for argparse's own complaints.
FLAG_EXAMPLES = {
    "--mode": "--mode backfill",
    "--output": "--output jsonl:/tmp/events.jsonl",
    "--delivery-reports": "--delivery-reports all",
    "--warm-up-mode": "--warm-up-mode send",
    "--config": "--config shop.toml",
    "--topic": "--topic clickstream.raw",
    "--bootstrap-servers": "--bootstrap-servers 127.0.0.1:9092",
    "--compression": "--compression lz4",
    "--ledger": "--ledger /tmp/ledger.json",
    **{limit.flag: limit.for_example for limit in LIMITS.values() if limit.flag},
}


def by_flag(flag: str) -> Limit:
    """The limit of a flag such as `--rate`."""
    return next(limit for limit in LIMITS.values() if limit.flag == flag)


def by_env(name: str) -> Limit:
    """The limit of an environment variable such as `PRODUCER_RATE`."""
    return next(limit for limit in LIMITS.values() if limit.env == name)


def number(limit: Limit, value: Any, given_as: str) -> int | float:
    """`value` (text from a flag or variable, or a number from a file) as the setting's number.

    Durations in text form (`30s`, `2h`) are parsed; the range is checked by `check_number`.
    """
    if isinstance(value, bool):
        raise _bad(limit, value, given_as)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = parse_duration(text) if limit.duration else float(text.replace("_", ""))
        except ConfigError as exc:  # says how to write a duration
            raise ConfigError(
                f"{given_as or limit.label}: {exc}; for example {limit.for_example}"
            ) from None
        except ValueError:
            raise _bad(limit, value, given_as) from None
    if not isinstance(value, int | float):
        raise _bad(limit, value, given_as)
    if limit.integer:
        if isinstance(value, float):
            if not value.is_integer():
                raise _bad(limit, value, given_as)
            return int(value)
        return value
    return float(value)


def _bad(limit: Limit, value: Any, given_as: str) -> ConfigError:
    return ConfigError(
        f"{given_as}={value!r} is not {limit.rule()}; for example {limit.for_example}"
        if given_as
        else f"{limit.label} must be {limit.rule()}, not {value!r}; for example {limit.for_example}"
    )


def check_number(limit: Limit, value: Any) -> None:
    """Raise ConfigError unless `value` is a finite number inside the limit's range."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and limit.integer:
        ok = isinstance(value, int)
    if ok:
        ok = math.isfinite(value) and limit.low <= value <= limit.high
        ok = ok and not (limit.above and value == limit.low)
    if not ok:
        raise ConfigError(
            f"{limit.label} must be {limit.rule()}, not {_value(limit, value)}; "
            f"for example {limit.for_example}"
        )


def _value(limit: Limit, value: Any) -> str:
    if limit.duration and isinstance(value, float) and math.isfinite(value):
        return _duration(value)
    return repr(value)


def check_vector(key: str, value: Any) -> None:
    """Raise ConfigError unless `value` is a list of finite numbers of the right length."""
    length, low, above, example = VECTORS[key]
    ok = isinstance(value, tuple) and len(value) == length
    ok = ok and all(
        isinstance(v, int | float) and math.isfinite(v) and (v > low if above else v >= low)
        for v in value
    )
    if not ok or sum(value) <= 0:
        sign = "positive" if above else "non-negative"
        raise ConfigError(
            f"config {key} must be {length} {sign} numbers, not all zero; for example {example}"
        )
