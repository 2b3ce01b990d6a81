"""Every producer setting's names (flag, variable, config key), its range and a valid example.

In: nothing; out: the table `producer.config`'s pydantic fields are built from (their ranges,
aliases and descriptions), and that `infra.layers` names a bad value by. One table holds the
limits, so flags, variables and config files cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypedDict

from pydantic import Field
from pydantic_core import PydanticCustomError

from infra.layers import Named, Path, Spec, for_example, label


@dataclass(frozen=True)
class Limit:
    """A numeric setting: config key, flag and variable, closed range [low, high], an example."""

    key: str  # section.name, as written in a config file
    low: float
    high: float
    example: str  # a valid value as written after the flag (or in the file, without a flag)
    flag: str = ""
    env: str = ""
    integer: bool = False
    above: bool = False  # low itself is not allowed
    duration: bool = False  # 30s, 20m, 2h, 1d or seconds, in flags, variables and files alike

    @property
    def label(self) -> str:
        """`--rate (PRODUCER_RATE, config traffic.rate)`: every name the setting goes by."""
        return label(self)

    @property
    def for_example(self) -> str:
        """A valid setting in the first form the label names."""
        return for_example(self)

    def rule(self) -> str:
        """The allowed range, in words."""
        kind = "a whole number" if self.integer else "a number"
        if self.duration:
            kind = "a duration (30s, 20m, 2h, 1d or seconds)"
        elif (self.low, self.high) == (0, 1):
            kind = "a probability"
        show = duration_text if self.duration else _show
        if self.above:
            return f"{kind} above {show(self.low)} and at most {show(self.high)}"
        return f"{kind} from {show(self.low)} to {show(self.high)}"

    def field(self, default: Any) -> Any:
        """The pydantic field of this setting: its range, its config key as alias (the Python
        name may differ: `warm_up_s`), the rule as description."""
        if self.above:
            return Field(default, gt=self.low, le=self.high, **aliased(self))
        return Field(default, ge=self.low, le=self.high, **aliased(self))


def aliased(spec: Named) -> dict[str, Any]:
    """A field's config key as its alias (read and written), and its description."""
    name = spec.key.split(".")[1]
    return {"validation_alias": name, "serialization_alias": name, "description": describe(spec)}


def describe(spec: Named) -> str:
    """A field's description in the JSON Schema: the rule, its flag and variable."""
    others = [n for n in (spec.flag, spec.env) if n]
    also = f" (also {', '.join(others)})" if others else ""
    return f"{spec.rule()[0].upper()}{spec.rule()[1:]}{also}; for example {spec.example}."


def _show(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def duration_text(seconds: float) -> str:
    """Seconds in the largest whole unit: 86400 is `1d`, 90 is `90s`."""
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
        Limit("run.duration", 0, 3650 * DAY, "20m", "--duration", **D),
        Limit("run.warm_up", 0, DAY, "1h", "--warm-up", "PRODUCER_WARM_UP", **D),
        Limit("run.progress", 0, DAY, "5s", "--progress", "PRODUCER_PROGRESS_INTERVAL", **D),
        Limit("run.stop_timeout", 0, 600, "5s", "--stop-timeout", "PRODUCER_STOP_TIMEOUT", **D),
        Limit("behavior.users", 1, 1_000_000, "5000", "--users", "PRODUCER_MAX_USERS", **N),
        Limit("behavior.products", 1, 100_000, "500", "--products", "PRODUCER_MAX_PRODUCTS", **N),
        Limit("faults.duplicates", **P, example="0.01", flag="--duplicates"),
        Limit("faults.late", **P, example="0.02", flag="--late"),
        Limit("faults.malformed", **P, example="0.005", flag="--malformed"),
        Limit("faults.max_lateness", 0, DAY, "10m", "--max-lateness", **D),
        Limit("faults.duplicate_delay", 0, DAY, "2s", **D),
        Limit("behavior.returning_share", **P, example="0.35"),
        Limit("behavior.returning_conversion", 0, 100, "3", above=True),
        Limit("behavior.bounce_rate", **P, example="0.42"),
        Limit("behavior.add_to_cart_rate", **P, example="0.042"),
        Limit("behavior.go_to_cart_after_add", **P, example="0.55"),
        Limit("behavior.cart_to_checkout", **P, example="0.65"),
        Limit("behavior.checkout_to_purchase", **P, example="0.75"),
        Limit("behavior.cart_item_removed", **P, example="0.1"),
        Limit("behavior.exit_after_purchase", **P, example="0.85"),
        Limit("behavior.conversion_on_cart", **P, example="0.7"),
        Limit("behavior.popularity_exponent", 0, 10, "1.7"),
        Limit("behavior.popularity_offset", 0, 1, "0.01", above=True),
        Limit("behavior.think_time_median", 0, DAY, "22s", above=True, **D),
        Limit("behavior.think_time_sigma", 0, 10, "1.1"),
        Limit("behavior.think_time_pace", 0, 5, "0.8"),
        Limit("behavior.max_session_events", 1, 10_000, "200", **N),
    )
}
# The first instant of a backfill (epoch ms inside; a date or an RFC 3339 time outside).
START = Spec(
    "run.start",
    "--start",
    example="2025-08-01",
    text="a date such as 2025-08-01 or a time such as 2025-08-01T14:00:00Z",
)
# Lists of numbers: (length, lowest allowed, whether the lowest is excluded, example).
VECTORS = {
    "behavior.device_mix": (3, 0.0, False, "[0.67, 0.28, 0.05]"),
    "behavior.device_conversion": (3, 0.0, True, "[0.5, 1.0, 0.8]"),
    "behavior.engagement": (2, 0.0, True, "[7.5, 2.5]"),
    "traffic.daily": (24, 0.0, False, "24 hourly multipliers such as [0.5, 0.4, ...]"),
    "traffic.weekly": (7, 0.0, False, "[1.04, 1.05, 1.05, 1.04, 0.99, 0.9, 0.93]"),
}
SIGN = {True: "positive", False: "non-negative"}
WARM_UP_MODES = ("send", "simulate")  # realtime warm start: send the span as history, or not
COMPRESSION = ("lz4", "zstd", "snappy", "gzip", "none")
TOPIC_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"
# The settings that are not numbers in a range.
SPECS: dict[str, Spec] = {
    spec.key: spec
    for spec in (
        START,
        Spec("run.mode", "--mode", "", "backfill", "realtime or backfill"),
        Spec("run.warm_up_mode", "--warm-up-mode", "PRODUCER_WARM_UP_MODE", "send",
             "send or simulate"),
        Spec("run.shard", "--shard", "PRODUCER_SHARD", "2/4", "I/N with 1 <= I <= N"),
        Spec("run.ledger_path", "--ledger", "", "/tmp/ledger.json", "a file path"),
        Spec("run.scenarios", "--scenario", "", "ab-test:lift=B:purchase:+20%",
             "a list of NAME[:key=value,...] (see --help)"),
        Spec("run.ledger_dir", "", "PRODUCER_LEDGER_DIR", ".local/ledgers", "a folder"),
        Spec("traffic.flat", "--flat", "", "true", "true or false"),
        Spec("output.kind", "--output", "PRODUCER_OUTPUT", "jsonl:/tmp/events.jsonl",
             "kafka, jsonl:PATH, parquet:DIR or - (stdout)"),
        Spec("output.path", "--output", "PRODUCER_OUTPUT", "jsonl:/tmp/events.jsonl",
             "a path, after jsonl: or parquet:"),
        Spec("output.topic", "--topic", "KAFKA_TOPIC", "clickstream.raw",
             "a Kafka topic name: letters, digits, '.', '_' and '-'"),
        Spec("output.bootstrap_servers", "--bootstrap-servers", "KAFKA_BOOTSTRAP_SERVERS",
             "127.0.0.1:9092", "host:port[,host:port...]"),
        Spec("output.kafka", "--compression", "PRODUCER_COMPRESSION", "lz4",
             f"librdkafka properties; compression.type one of {', '.join(COMPRESSION)}"),
        Spec("output.delivery_reports", "--delivery-reports", "PRODUCER_DELIVERY_REPORTS",
             "all", "all or errors"),
        Spec("output.create_topic", "--no-create-topic", "", "false", "true or false"),
        Spec("output.partitions", "", "KAFKA_PARTITIONS", "3",
             "a whole number from 1 to 10000"),
        *(
            Spec(key, example=example,
                 text=f"a list of {n} {SIGN[above]} numbers, not all zero")
            for key, (n, _, above, example) in VECTORS.items()
        ),
        # The behaviour table's tables (producer/behavior.toml); each entry has its own limit
        # (producer.behavior_table.ENTRY_LIMITS).
        Spec("behavior.landing", example="{ product = 0.5 }",
             text="a table of landing page weights from 0 to 1: home, category, search, product"),
        Spec("behavior.bounce_odds", example="{ product = 1.2 }",
             text="a table of relative bounce odds from 0 to 10 per landing page"),
        Spec("behavior.transitions", example="{ product = { home = 0.2 } }",
             text="a table per page (home, category, search, product, cart, checkout) of "
                  "move weights from 0 to 1"),
        Spec("behavior.delays", example="{ pay = { median = 30 } }",
             text="a table per step (add_to_cart, pay) of median, sigma and cap"),
        Spec("behavior.referrers", example='{ "https://www.google.com/" = 0.4 }',
             text="a table of referrer URL (or direct) = weight from 0 to 1"),
        Spec("behavior.quantities", example="[52, 9, 2, 1]",
             text="a list of 1 to 100 non-negative weights of 1, 2, 3 ... units, not all zero"),
    )
}  # fmt: skip
# Every setting, by config key and by its path in the model.
EVERY: dict[str, Named] = {**LIMITS, **SPECS}
ALL: dict[Path, Named] = {tuple(key.split(".")): spec for key, spec in EVERY.items()}
# Examples for the flags without a numeric limit, for argparse's own complaints.
FLAG_EXAMPLES = {
    "--config": "--config shop.toml",
    **{spec.flag: for_example(spec) for spec in SPECS.values() if spec.flag},
    **{limit.flag: limit.for_example for limit in LIMITS.values() if limit.flag},
}


def check_vector(key: str, value: tuple[float, ...]) -> tuple[float, ...]:
    """`value` if it is a list of finite numbers of the right length, not all zero."""
    length, low, above, _ = VECTORS[key]
    ok = len(value) == length and all(
        math.isfinite(v) and (v > low if above else v >= low) for v in value
    )
    if not ok or sum(value) <= 0:
        raise PydanticCustomError("rule", "out of range")
    return value


def by_flag(flag: str) -> Limit:
    """The limit of a flag such as `--rate`."""
    return next(limit for limit in LIMITS.values() if limit.flag == flag)


def by_env(name: str) -> Limit:
    """The limit of an environment variable such as `PRODUCER_RATE`."""
    return next(limit for limit in LIMITS.values() if limit.env == name)
