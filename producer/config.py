"""Frozen, typed settings for the producer, and the config-file layer they can be read from.

Precedence, lowest first: built-in defaults here, `.env.example` < `.env` < environment,
a config file (`--config` or PRODUCER_CONFIG: TOML, JSON or YAML), then command-line flags.
The CLI (producer.producer) builds one `Settings` at start and passes it down.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from infra.env import ConfigError, mask
from producer.checks import (
    COMPRESSION,
    LIMITS,
    START_MS,
    TOPIC,
    VECTORS,
    WARM_UP_MODES,
    check_number,
    check_vector,
    number,
)

# Hour-of-day traffic (UTC unless traffic.utc_offset_hours moves it): night trough, evening peak.
DAILY_CURVE = (
    0.55, 0.38, 0.27, 0.21, 0.19, 0.22, 0.30, 0.45, 0.65, 0.85, 1.00, 1.10,
    1.18, 1.20, 1.20, 1.22, 1.25, 1.30, 1.38, 1.50, 1.62, 1.55, 1.30, 0.90,
)  # fmt: skip
# Monday first; weekends lower.
WEEKLY_CURVE = (1.04, 1.05, 1.05, 1.04, 0.99, 0.90, 0.93)


@dataclass(frozen=True)
class BehaviorSettings:
    """The visitor and shop model; defaults are tuned to the ranges in docs/producer.md."""

    users: int = 5000
    products: int = 500
    device_mix: tuple[float, float, float] = (0.67, 0.28, 0.05)  # mobile, desktop, tablet
    device_conversion: tuple[float, float, float] = (0.5, 1.0, 0.8)  # relative to desktop
    returning_share: float = 0.35  # share of sessions by returning visitors
    returning_conversion: float = 3.0  # returning visitors convert this many times more
    bounce_rate: float = 0.42  # share of sessions that leave after the landing page
    engagement: tuple[float, float] = (7.5, 2.5)  # Beta(a, b) of the per-page stay probability
    add_to_cart_rate: float = 0.042  # per product view
    go_to_cart_after_add: float = 0.55
    cart_to_checkout: float = 0.65
    checkout_to_purchase: float = 0.75
    cart_item_removed: float = 0.10  # each cart line dropped before checkout
    exit_after_purchase: float = 0.85
    popularity_exponent: float = 1.0  # Zipf exponent of product views
    think_time_median_s: float = 22.0
    think_time_sigma: float = 1.1  # lognormal sigma: heavy-tailed pauses
    max_session_events: int = 200


@dataclass(frozen=True)
class TrafficSettings:
    """How many events, and when: base rate shaped by daily and weekly cycles."""

    rate: float = 200.0  # events/s averaged over a day (over a week with the weekly cycle)
    flat: bool = False
    daily: tuple[float, ...] = DAILY_CURVE
    weekly: tuple[float, ...] = WEEKLY_CURVE
    utc_offset_hours: float = 0.0  # shop's local time = UTC + offset, for the curves


@dataclass(frozen=True)
class FaultSettings:
    """Deliberate faults for testing pipelines; all off by default."""

    duplicates: float = 0.0
    late: float = 0.0
    max_lateness_s: float = 300.0
    malformed: float = 0.0
    duplicate_delay_s: float = 2.0  # a duplicate is re-sent up to this much event time later

    @property
    def enabled(self) -> bool:
        """True when any fault is injected."""
        return self.duplicates > 0 or self.late > 0 or self.malformed > 0


@dataclass(frozen=True)
class OutputSettings:
    """Where messages go and how the Kafka client is tuned."""

    kind: str = "kafka"  # kafka | jsonl | parquet | stdout
    path: str = ""
    topic: str = "clickstream.raw"
    bootstrap_servers: str = "127.0.0.1:9092"
    kafka: dict[str, Any] = field(default_factory=dict)  # extra librdkafka properties
    delivery_reports: str = "all"  # all: count every report | errors: only failures, faster
    create_topic: bool = True  # a missing topic is created (KAFKA_PARTITIONS partitions)
    partitions: int = 3


@dataclass(frozen=True)
class RunSettings:
    """One run: mode, clock range, limits, seed and where records go."""

    mode: str = "realtime"  # realtime | backfill
    seed: int | None = None  # None: drawn at start and printed, so a run can be repeated
    start_ms: int | None = None
    days: float | None = None
    events: int | None = None
    duration_s: float | None = None
    # Realtime: simulated time before the start whose sessions are under way at the start.
    warm_up_s: float = 3600.0
    # send: the warm-up span goes out first, at full speed, as history | simulate: unsent.
    warm_up_mode: str = "send"
    ledger_path: str = ""
    ledger_dir: str = ".local/ledgers"
    progress_s: float = 5.0
    # After a stop request (SIGINT/SIGTERM): how long to wait for unconfirmed messages.
    stop_timeout_s: float = 5.0
    # One of N producers of one run (producer/shards.py): "I/N", 1-based; "1/1" is a whole run.
    shard: str = "1/1"
    # --workers: processes on this machine, one shard each (producer/workers.py).
    workers: int = 1


@dataclass(frozen=True)
class Settings:
    """Everything the producer needs, built once at the entry point."""

    run: RunSettings = field(default_factory=RunSettings)
    traffic: TrafficSettings = field(default_factory=TrafficSettings)
    behavior: BehaviorSettings = field(default_factory=BehaviorSettings)
    faults: FaultSettings = field(default_factory=FaultSettings)
    output: OutputSettings = field(default_factory=OutputSettings)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, with secret-looking Kafka properties masked."""
        data = asdict(self)
        data["output"]["kafka"] = {k: mask(k, str(v)) for k, v in self.output.kafka.items()}
        return data


SECTIONS = {
    "run": RunSettings,
    "traffic": TrafficSettings,
    "behavior": BehaviorSettings,
    "faults": FaultSettings,
    "output": OutputSettings,
}


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
    return data


def _coerce(section: str, name: str, current: Any, value: Any) -> Any:
    where = f"{section}.{name}"
    limit = START_MS if where == START_MS.key else LIMITS.get(where)
    if limit is not None:
        return number(limit, value, given_as="")
    if isinstance(current, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"config {where} must be a table of properties")
        return {**current, **value}
    if isinstance(current, tuple):
        if not isinstance(value, list | tuple) or len(value) != len(current):
            raise ConfigError(f"config {where} must be a list of {len(current)} numbers")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"config {where} must be a list of {len(current)} numbers")
        return tuple(float(v) for v in value)
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"config {where} must be true or false")
        return value
    if isinstance(current, str) and not isinstance(value, str):
        raise ConfigError(f"config {where} must be text, not {value!r}")
    return value


def apply_sections(settings: Settings, data: dict[str, Any]) -> Settings:
    """Return settings with values from nested `{section: {key: value}}` data applied."""
    updates: dict[str, Any] = {}
    for section, values in data.items():
        cls = SECTIONS.get(section)
        if cls is None:
            raise ConfigError(f"unknown config section [{section}]; known: {', '.join(SECTIONS)}")
        if not isinstance(values, dict):
            raise ConfigError(f"config section [{section}] must hold key = value pairs")
        current = getattr(settings, section)
        known = {f.name for f in fields(cls)}
        changes = {}
        for name, value in values.items():
            if name not in known:
                raise ConfigError(
                    f"unknown setting {section}.{name}; known: {', '.join(sorted(known))}"
                )
            changes[name] = _coerce(section, name, getattr(current, name), value)
        updates[section] = replace(current, **changes)
    return replace(settings, **updates)


def check(settings: Settings) -> Settings:
    """Validate every setting, raising ConfigError that names it (flag, variable, key) and an
    example of a valid value."""
    from producer.shards import parse_shard  # shards builds on these settings

    parse_shard(settings.run.shard, "--shard (PRODUCER_SHARD, run.shard)")
    for key, limit in LIMITS.items():
        section, name = key.split(".")
        value = getattr(getattr(settings, section), name)
        if value is not None:
            check_number(limit, value)
    for key in VECTORS:
        section, name = key.split(".")
        check_vector(key, getattr(getattr(settings, section), name))
    r, o = settings.run, settings.output
    if r.seed is None:
        raise ConfigError("the seed must be a whole number, for example --seed 42")
    if r.mode not in ("realtime", "backfill"):
        raise ConfigError(f"--mode must be realtime or backfill, not {r.mode!r}")
    if r.warm_up_mode not in WARM_UP_MODES:
        raise ConfigError(
            "--warm-up-mode (PRODUCER_WARM_UP_MODE, config run.warm_up_mode) must be send or "
            f"simulate, not {r.warm_up_mode!r}; for example --warm-up-mode send"
        )
    if o.kind not in ("kafka", "jsonl", "parquet", "stdout"):
        raise ConfigError(
            f"--output kind {o.kind!r}: use kafka, jsonl:PATH, parquet:DIR or - (stdout)"
        )
    if o.kind == "jsonl" and not o.path:
        raise ConfigError("--output jsonl needs a path, for example --output jsonl:/tmp/e.jsonl")
    if o.kind == "parquet" and not o.path:
        raise ConfigError(
            "--output parquet needs a directory, for example --output parquet:/tmp/ev"
        )
    if o.delivery_reports not in ("all", "errors"):
        raise ConfigError(
            f"--delivery-reports (PRODUCER_DELIVERY_REPORTS) must be all or errors, "
            f"not {o.delivery_reports!r}"
        )
    if not TOPIC.fullmatch(o.topic):
        raise ConfigError(
            f"--topic (KAFKA_TOPIC) {o.topic!r} is not a Kafka topic name: use letters, digits, "
            "'.', '_' and '-', for example --topic clickstream.raw"
        )
    if (
        isinstance(o.partitions, bool)
        or not isinstance(o.partitions, int)
        or not (1 <= o.partitions <= 10_000)
    ):
        raise ConfigError(
            f"KAFKA_PARTITIONS (config output.partitions) must be a whole number from 1 to "
            f"10000, not {o.partitions!r}; for example KAFKA_PARTITIONS=3"
        )
    if not isinstance(o.create_topic, bool):
        raise ConfigError(
            f"config output.create_topic must be true or false, not {o.create_topic!r}"
        )
    if not o.bootstrap_servers.strip():
        raise ConfigError(
            "--bootstrap-servers (KAFKA_BOOTSTRAP_SERVERS) is empty; for example 127.0.0.1:9092"
        )
    compression = str(o.kafka.get("compression.type", "lz4"))
    if compression not in COMPRESSION:
        raise ConfigError(
            f"--compression (PRODUCER_COMPRESSION) must be one of {', '.join(COMPRESSION)}, "
            f"not {compression!r}; for example --compression lz4"
        )
    return settings
