"""Frozen, typed settings for the producer, and the config-file layer they can be read from.

Precedence, lowest first: built-in defaults here, `.env.example` < `.env` < environment,
a config file (`--config` or PRODUCER_CONFIG: TOML, JSON or YAML), then command-line flags.
Each section is a frozen pydantic dataclass: every value is validated where it is built (also
by `dataclasses.replace`), and read as a plain attribute afterwards, so the simulator's loops
never touch pydantic. `producer.cli` layers flags, file and environment through
pydantic-settings (`ConfigFile`) into one `Settings` at start and passes it down.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    StrictBool,
    TypeAdapter,
    WithJsonSchema,
)
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError
from pydantic_settings import SettingsConfigDict

from infra.env import ConfigError, mask_property
from infra.layers import FROZEN, Count, Duration, Layer, Layered, Named, Number
from infra.layers import Path as Where
from producer import scenarios
from producer.behavior_table import (
    ENTRY_LIMITS,
    KNOWN,
    BounceTable,
    DelayTable,
    LandingTable,
    QuantityList,
    ReferrerTable,
    TransitionTable,
    default,
)
from producer.checks import (
    ALL,
    COMPRESSION,
    EVERY,
    LIMITS,
    SPECS,
    TOPIC_PATTERN,
    Limit,
    aliased,
    check_vector,
    duration_text,
)
from producer.clock import format_ms, parse_instant

# Hour-of-day traffic (UTC unless traffic.utc_offset_hours moves it): night trough, evening peak.
DAILY_CURVE = (
    0.55, 0.38, 0.27, 0.21, 0.19, 0.22, 0.30, 0.45, 0.65, 0.85, 1.00, 1.10,
    1.18, 1.20, 1.20, 1.22, 1.25, 1.30, 1.38, 1.50, 1.62, 1.55, 1.30, 0.90,
)  # fmt: skip
# Monday first; weekends lower.
WEEKLY_CURVE = (1.04, 1.05, 1.05, 1.04, 0.99, 0.90, 0.93)


def _limit(key: str, default: Any) -> Any:
    return LIMITS[key].field(default)


def _spec(key: str, default: Any = None, **extra: Any) -> Any:
    if "default_factory" in extra:
        return Field(**extra, **aliased(SPECS[key]))
    return Field(default, **extra, **aliased(SPECS[key]))


def _vector(key: str) -> AfterValidator:
    return AfterValidator(lambda value: check_vector(key, value))


def _instant(value: Any) -> Any:
    """--start's forms, a TOML or YAML date or time, or epoch ms (the old run.start_ms)."""
    if isinstance(value, bool):
        raise ValueError(f"invalid date {value!r}: write it like 2025-08-19")
    if isinstance(value, str):
        try:
            return parse_instant(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp() * 1000)
    if isinstance(value, int) and not FIRST_MS <= value <= LAST_MS:
        raise PydanticCustomError("rule", "out of range")
    return value


_SHARD = re.compile(r"([0-9]{1,6})/([0-9]{1,6})")


def _shard(text: str) -> str:
    match = _SHARD.fullmatch(text.strip())
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise PydanticCustomError("rule", "not I/N")
    return text.strip()


def _kafka(properties: dict[str, Any]) -> dict[str, Any]:
    compression = str(properties.get("compression.type", "lz4"))
    if compression not in COMPRESSION:
        raise PydanticCustomError("rule", "unknown compression")
    return properties


def _scenarios(specs: tuple[str, ...]) -> tuple[str, ...]:
    return scenarios.check(specs)


def _scenario(spec: str) -> str:
    scenarios.parse(spec)
    return spec.strip()


def _text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


FIRST_MS, LAST_MS = -62_135_596_800_000, 253_402_300_799_999  # years 1 to 9999
Instant = Annotated[
    int,
    BeforeValidator(_instant),
    PlainSerializer(format_ms, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "description": "2025-08-01, 2025-08-01T14:00 or RFC 3339"},
                {"type": "integer", "description": "epoch milliseconds, as the old start_ms"},
            ]
        }
    ),
]
Vector3 = tuple[float, float, float]
Text = Annotated[str, BeforeValidator(_text)]
ScenarioText = Annotated[str, AfterValidator(_scenario)]


def _table(key: str) -> Any:
    """The field of a behaviour table entry, its default from producer/behavior.toml."""
    value = default(key)
    if isinstance(value, dict):
        return _spec(f"behavior.{key}", default_factory=lambda: default(key))
    if isinstance(value, list):
        return _spec(f"behavior.{key}", tuple(float(v) for v in value))
    return _limit(f"behavior.{key}", float(value))


@dataclass(frozen=True, config=FROZEN)
class BehaviorSettings:
    """The visitor and shop model: its defaults are the behaviour table, producer/behavior.toml
    (every number's source is there), tuned to the ranges in docs/producer.md."""

    users: Count = _limit("behavior.users", 5000)
    products: Count = _limit("behavior.products", 500)
    # segments: mobile, desktop, tablet; conversion relative to desktop
    device_mix: Annotated[Vector3, _vector("behavior.device_mix")] = _table("device_mix")
    device_conversion: Annotated[Vector3, _vector("behavior.device_conversion")] = _table(
        "device_conversion"
    )
    returning_share: Number = _table("returning_share")
    returning_conversion: Number = _table("returning_conversion")
    conversion_on_cart: Number = _table("conversion_on_cart")
    # funnel
    bounce_rate: Number = _table("bounce_rate")
    add_to_cart_rate: Number = _table("add_to_cart_rate")
    go_to_cart_after_add: Number = _table("go_to_cart_after_add")
    cart_to_checkout: Number = _table("cart_to_checkout")
    checkout_to_purchase: Number = _table("checkout_to_purchase")
    cart_item_removed: Number = _table("cart_item_removed")
    exit_after_purchase: Number = _table("exit_after_purchase")
    quantities: QuantityList = _table("quantities")
    # engagement and dwell
    engagement: Annotated[tuple[float, float], _vector("behavior.engagement")] = _table(
        "engagement"
    )
    think_time_median_s: Duration = _limit(
        "behavior.think_time_median", default("think_time_median")
    )
    think_time_sigma: Number = _table("think_time_sigma")
    think_time_pace: Number = _table("think_time_pace")
    popularity_exponent: Number = _table("popularity_exponent")
    popularity_offset: Number = _table("popularity_offset")
    max_session_events: Count = _limit("behavior.max_session_events", 200)
    # the tables
    landing: LandingTable = _table("landing")
    bounce_odds: BounceTable = _table("bounce_odds")
    transitions: TransitionTable = _table("transitions")
    delays: DelayTable = _table("delays")
    referrers: ReferrerTable = _table("referrers")


@dataclass(frozen=True, config=FROZEN)
class TrafficSettings:
    """How many events, and when: base rate shaped by daily and weekly cycles."""

    # events/s averaged over a day (over a week with the weekly cycle)
    rate: Number = _limit("traffic.rate", 200.0)
    flat: StrictBool = _spec("traffic.flat", False)
    daily: Annotated[tuple[float, ...], _vector("traffic.daily")] = _spec(
        "traffic.daily", DAILY_CURVE
    )
    weekly: Annotated[tuple[float, ...], _vector("traffic.weekly")] = _spec(
        "traffic.weekly", WEEKLY_CURVE
    )
    # shop's local time = UTC + offset, for the curves
    utc_offset_hours: Number = _limit("traffic.utc_offset_hours", 0.0)


@dataclass(frozen=True, config=FROZEN)
class FaultSettings:
    """Deliberate faults for testing pipelines; all off by default."""

    duplicates: Number = _limit("faults.duplicates", 0.0)
    late: Number = _limit("faults.late", 0.0)
    max_lateness_s: Duration = _limit("faults.max_lateness", 300.0)
    malformed: Number = _limit("faults.malformed", 0.0)
    # a duplicate is re-sent up to this much event time later
    duplicate_delay_s: Duration = _limit("faults.duplicate_delay", 2.0)

    @property
    def enabled(self) -> bool:
        """True when any fault is injected."""
        return self.duplicates > 0 or self.late > 0 or self.malformed > 0


@dataclass(frozen=True, config=FROZEN)
class OutputSettings:
    """Where messages go and how the Kafka client is tuned."""

    kind: Literal["kafka", "jsonl", "parquet", "stdout"] = _spec("output.kind", "kafka")
    path: str = _spec("output.path", "")
    topic: Text = _spec("output.topic", "clickstream.raw", pattern=TOPIC_PATTERN)
    bootstrap_servers: Text = _spec("output.bootstrap_servers", "127.0.0.1:9092", min_length=1)
    # extra librdkafka properties
    kafka: Annotated[dict[str, Any], AfterValidator(_kafka)] = _spec(
        "output.kafka", default_factory=dict
    )
    # all: count every report | errors: only failures, faster
    delivery_reports: Literal["all", "errors"] = _spec("output.delivery_reports", "all")
    # a missing topic is created (KAFKA_PARTITIONS partitions)
    create_topic: StrictBool = _spec("output.create_topic", True)
    partitions: Count = _spec("output.partitions", 3, ge=1, le=10_000)


@dataclass(frozen=True, config=FROZEN)
class RunSettings:
    """One run: mode, clock range, limits, seed and where records go."""

    mode: Literal["realtime", "backfill"] = _spec("run.mode", "realtime")
    # None: drawn at start and printed, so a run can be repeated
    seed: Count | None = _limit("run.seed", None)
    # Years 1 to 9999 (what a date can say); producer.cli checks a backfill's range.
    start_ms: Instant | None = _spec("run.start", None)
    days: Number | None = _limit("run.days", None)
    events: Count | None = _limit("run.events", None)
    duration_s: Duration | None = _limit("run.duration", None)
    # Realtime: simulated time before the start whose sessions are under way at the start.
    warm_up_s: Duration = _limit("run.warm_up", 3600.0)
    # send: the warm-up span goes out first, at full speed, as history | simulate: unsent.
    warm_up_mode: Literal["send", "simulate"] = _spec("run.warm_up_mode", "send")
    ledger_path: str = _spec("run.ledger_path", "")
    ledger_dir: str = _spec("run.ledger_dir", ".local/ledgers")
    progress_s: Duration = _limit("run.progress", 5.0)
    # After a stop request (SIGINT/SIGTERM): how long to wait for unconfirmed messages.
    stop_timeout_s: Duration = _limit("run.stop_timeout", 5.0)
    # One of N producers of one run (producer/shards.py): "I/N", 1-based; "1/1" is a whole run.
    shard: Annotated[str, AfterValidator(_shard)] = _spec("run.shard", "1/1")
    # --workers: processes on this machine, one shard each (producer/workers.py).
    workers: Count = _limit("run.workers", 1)
    # --scenario NAME[:key=value,...], repeatable (producer/scenarios.py).
    scenarios: Annotated[tuple[ScenarioText, ...], AfterValidator(_scenarios)] = _spec(
        "run.scenarios", ()
    )


@dataclass(frozen=True, config=FROZEN)
class Settings:
    """Everything the producer needs, built once at the entry point."""

    run: RunSettings = field(default_factory=RunSettings)
    traffic: TrafficSettings = field(default_factory=TrafficSettings)
    behavior: BehaviorSettings = field(default_factory=BehaviorSettings)
    faults: FaultSettings = field(default_factory=FaultSettings)
    output: OutputSettings = field(default_factory=OutputSettings)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a config file holds them (JSON-ready, config keys, durations in
        seconds, the start as a time), with secret Kafka properties masked."""
        data: dict[str, Any] = _DUMP.dump_python(self, mode="json", by_alias=True)
        data["output"]["kafka"] = {
            k: mask_property(k, str(v)) for k, v in self.output.kafka.items()
        }
        return data

    def describe(self) -> str:
        """A table of every setting: its variable, flag and config key, and its value (as a
        config file holds it), secrets masked."""
        rows = [("variable", "flag", "config key", "value")]
        data = self.to_dict()
        for key, spec in sorted(EVERY.items()):
            section, name = key.split(".")
            value = data[section][name]
            shown = json.dumps(value) if not isinstance(value, str) else value
            if isinstance(spec, Limit) and spec.duration and value is not None:
                shown = duration_text(value)
            rows.append((spec.env or "-", spec.flag or "-", key, shown))
        width = [max(len(row[i]) for row in rows) for i in range(3)]
        return "\n".join(
            "  ".join(cell.ljust(width[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
            for row in rows
        )


class ConfigFile(Layered):
    """What pydantic-settings validates the layers into: a config file's shape, whose JSON
    Schema is config/producer.schema.json (`python -m producer.producer --config-schema`)."""

    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", title="Producer config file (TOML, JSON or YAML)"
    )

    run: RunSettings = Field(default_factory=RunSettings)
    traffic: TrafficSettings = Field(default_factory=TrafficSettings)
    behavior: BehaviorSettings = Field(default_factory=BehaviorSettings)
    faults: FaultSettings = Field(default_factory=FaultSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)

    def settings(self) -> Settings:
        """The validated sections as the producer's Settings."""
        return Settings(self.run, self.traffic, self.behavior, self.faults, self.output)


_DUMP = TypeAdapter(Settings)


SECTIONS = {
    "run": RunSettings,
    "traffic": TrafficSettings,
    "behavior": BehaviorSettings,
    "faults": FaultSettings,
    "output": OutputSettings,
}
# Config keys of earlier releases, in internal units: still read (a plain number is seconds
# under the new key too; `start_ms`, epoch ms, is taken as such under `start`).
DEPRECATED = {
    "run.start_ms": "start",
    "run.duration_s": "duration",
    "run.warm_up_s": "warm_up",
    "run.progress_s": "progress",
    "run.stop_timeout_s": "stop_timeout",
    "faults.max_lateness_s": "max_lateness",
    "faults.duplicate_delay_s": "duplicate_delay",
    "behavior.think_time_median_s": "think_time_median",
}


# Every setting by its path in the model, down to the behaviour table's entries, for errors.
SPECS_BY_PATH: dict[Where, Named] = {
    **ALL,
    **{tuple(key.split(".")): limit for key, limit in ENTRY_LIMITS.items()},
}


SCHEMA_PATH = Path(__file__).resolve().parent.parent / "config" / "producer.schema.json"


def config_schema() -> str:
    """The JSON Schema of a config file, from the pydantic model (config/producer.schema.json
    holds it; a test fails when that file is stale)."""
    schema = ConfigFile.model_json_schema(by_alias=True, mode="validation")
    for old, new in DEPRECATED.items():
        section, key = old.split(".")
        properties = schema["$defs"][SECTIONS[section].__name__]["properties"]
        properties[key] = {
            **properties[new],
            "deprecated": True,
            "description": f"Deprecated: use {new} (same meaning; it also takes 30s, 2h, ...).",
        }
    schema["properties"] = {
        "$schema": {"type": "string", "description": "Where editors find this schema."},
        **schema["properties"],
    }
    top = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "config/producer.schema.json",
    }
    return json.dumps({**top, **schema}, indent=2, ensure_ascii=False) + "\n"


def known_keys(section: Where) -> list[str]:
    """The config keys a section takes (the sections, at the top)."""
    if not section:
        return list(SECTIONS)
    if len(section) > 1:
        return list(KNOWN.get(section, ()))
    return sorted(key.split(".")[1] for key in EVERY if key.split(".")[0] == section[0])


def read_config_file(path: str) -> dict[str, Any]:
    """Read a TOML, JSON or YAML config file into nested sections."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {path} does not exist (from --config or PRODUCER_CONFIG)")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read as UTF-8 text: {exc}") from None
    try:
        if file.suffix == ".toml":
            data = tomllib.loads(text)
        elif file.suffix == ".json":
            data = json.loads(text)
        elif file.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"config file {path}: use a .toml, .json or .yaml file")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"config file {path} does not parse: {first_line}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected sections like [behavior] at the top")
    data.pop("$schema", None)  # an editor's pointer to config/producer.schema.json
    return data


def file_layer(path: str) -> Layer:
    """A config file as a layer: deprecated keys read under their new names, each value
    named `config section.key` for errors."""
    data = read_config_file(path)
    values: dict[str, Any] = {}
    given: dict[Where, str] = {}
    for section, entries in data.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"unknown config section [{section}] in {path}; known: {', '.join(SECTIONS)}"
            )
        if not isinstance(entries, dict):
            raise ConfigError(f"config section [{section}] in {path} must hold key = value pairs")
        values[section] = {}
        for key, value in entries.items():
            name = DEPRECATED.get(f"{section}.{key}", str(key))
            values[section][name] = value
            given[(section, name)] = f"config {section}.{name}"
    return Layer(ConfigFile, values, given, where=f"in {path}")
