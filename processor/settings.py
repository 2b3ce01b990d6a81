"""The processor's settings: one frozen object built from the layered environment at the edge.

Entry points call `ProcessorSettings.from_env(load_env())`; nothing below them reads os.environ.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from infra.env import LOCAL, ConfigError, mask, parse_duration, require
from infra.settings import PostgresTarget

# PROCESSOR_SPARK_UI: off (no web UI) or on (127.0.0.1 only, no kill links; spark_session.py).
SPARK_UI_MODES = ("off", "on")
DAY = 86_400.0


class ProcessorError(RuntimeError):
    """The processor cannot go on; the message names the stage and what to do next."""


def _count(env: Mapping[str, str], key: str, default: str) -> int:
    raw = (env.get(key) or default).strip()
    if not raw.isdigit():
        raise ConfigError(f"{key}={raw!r} must be a whole number >= 0, for example {key}={default}")
    return int(raw)


def _duration(env: Mapping[str, str], key: str, default: str) -> float:
    raw = (env.get(key) or default).strip()
    try:
        return parse_duration(raw)
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _bounded_duration(env: Mapping[str, str], key: str, default: str, most: float) -> float:
    value = _duration(env, key, default)
    if value > most:
        raise ConfigError(
            f"{key}={env.get(key)!r} must be at most {most:.0f}s, for example {key}={default}"
        )
    return value


def _starting_offsets(env: Mapping[str, str]) -> str:
    raw = (env.get("KAFKA_STARTING_OFFSETS") or "earliest").strip()
    if raw in ("earliest", "latest"):
        return raw
    try:
        json.loads(raw)
    except ValueError:
        raise ConfigError(
            f"KAFKA_STARTING_OFFSETS={raw!r} must be earliest, latest or Spark's JSON offsets, "
            'for example KAFKA_STARTING_OFFSETS=earliest or {"clickstream.raw":{"0":-2}}'
        ) from None
    return raw


def _choice(env: Mapping[str, str], key: str, default: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(key) or default).strip()
    if raw not in choices:
        raise ConfigError(
            f"{key}={raw!r} must be one of {', '.join(choices)}, for example {key}={default}"
        )
    return raw


# Spark's master URLs (local, local[N], local[*], local[N,F], a standalone cluster, YARN,
# Kubernetes) and JVM sizes (512m, 2g).
_MASTER = re.compile(
    r"local(\[(\*|[1-9][0-9]*)(,[1-9][0-9]*)?\])?|local-cluster\[[1-9][0-9]*,[1-9][0-9]*,[1-9][0-9]*\]"
    r"|spark://[^\s/,]+(,[^\s/,]+)*|yarn|k8s://\S+"
)
_MEMORY = re.compile(r"[1-9][0-9]*[kmgt]?", re.IGNORECASE)
# A schema the processor can name unquoted (it is spliced into search_path).
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _matching(
    env: Mapping[str, str], key: str, default: str, pattern: re.Pattern[str], what: str
) -> str:
    raw = (env.get(key) or default).strip()
    if pattern.fullmatch(raw) is None:
        raise ConfigError(f"{key}={raw!r} must be {what}, for example {key}={default}")
    return raw


def _trigger(env: Mapping[str, str]) -> float:
    """PROCESSOR_TRIGGER_SECONDS: a duration like every other (5, 5s, 500ms, 1m), above 0."""
    key = "PROCESSOR_TRIGGER_SECONDS"
    value = _bounded_duration(env, key, "5s", 3600.0)
    if value <= 0:
        raise ConfigError(f"{key}={env.get(key)!r} must be above 0, for example {key}=5s")
    return value


def _retention(env: Mapping[str, str]) -> int:
    """PROCESSOR_RAW_RETENTION: whole days of raw_events and rejected_events kept (0 or off:
    keep everything). The tables are partitioned by day, so a duration is rounded up to days."""
    key = "PROCESSOR_RAW_RETENTION"
    raw = (env.get(key) or "7d").strip()
    if raw.lower() in ("off", "0"):
        return 0
    seconds = _duration(env, key, "7d")
    if not DAY <= seconds <= 36_500 * DAY:
        raise ConfigError(
            f"{key}={raw!r} must be at least 1d (partitions hold a day each) and at most "
            f"36500d, or off to keep every raw event; for example {key}=7d"
        )
    return math.ceil(seconds / DAY)


def default_checkpoint_dir(topic: str, local: Path = LOCAL) -> Path:
    """Checkpoint folder derived from the topic name, so switching topics starts cleanly."""
    return local / "checkpoints" / re.sub(r"[^A-Za-z0-9._-]", "_", topic)


@dataclass(frozen=True)
class ProcessorSettings:
    """Everything the streaming processor and verify need, with secrets masked when printed."""

    kafka_bootstrap: str
    kafka_topic: str
    starting_offsets: str
    checkpoint_dir: Path
    trigger_seconds: float
    max_lateness_seconds: float
    max_offsets_per_trigger: int
    spark_master: str
    spark_driver_memory: str
    read_partitions: int
    db_retry_seconds: float
    pg: PostgresTarget
    max_future_seconds: float = 300.0
    max_message_bytes: int = 1_048_576
    reject_payload_bytes: int = 4096
    on_data_loss: str = "fail"
    spark_ui: str = "off"
    raw_retention_days: int = 7  # 0: raw_events and rejected_events keep every row

    @classmethod
    def from_env(cls, env: Mapping[str, str], local: Path = LOCAL) -> ProcessorSettings:
        """Build settings from a `load_env()` mapping; raise ConfigError naming a bad key."""
        topic = require(env, "KAFKA_TOPIC", "clickstream.raw")
        checkpoint = (env.get("PROCESSOR_CHECKPOINT_DIR") or "").strip()
        pg = PostgresTarget.from_env(env)
        _matching(
            env,
            "POSTGRES_SCHEMA",
            "analytics",
            _SCHEMA,
            "a plain lowercase name (letters, digits, _; not starting with a digit)",
        )
        read_partitions = _count(env, "PROCESSOR_READ_PARTITIONS", "8")
        return cls(
            kafka_bootstrap=require(env, "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            kafka_topic=topic,
            starting_offsets=_starting_offsets(env),
            checkpoint_dir=Path(checkpoint) if checkpoint else default_checkpoint_dir(topic, local),
            trigger_seconds=_trigger(env),
            max_lateness_seconds=_duration(env, "PROCESSOR_MAX_LATENESS", "1h"),
            max_offsets_per_trigger=_count(env, "PROCESSOR_MAX_OFFSETS_PER_TRIGGER", "200000"),
            spark_master=_matching(
                env,
                "SPARK_MASTER",
                "local[*]",
                _MASTER,
                "a Spark master URL: local, local[N], local[*], spark://HOST:PORT, yarn or "
                "k8s://URL",
            ),
            spark_driver_memory=_matching(
                env, "SPARK_DRIVER_MEMORY", "2g", _MEMORY, "a JVM size such as 512m or 2g"
            ),
            read_partitions=max(read_partitions, 1),
            db_retry_seconds=_duration(env, "PROCESSOR_DB_RETRY_TIMEOUT", "5m"),
            pg=pg,
            max_future_seconds=_bounded_duration(env, "PROCESSOR_MAX_FUTURE", "5m", 86400.0),
            max_message_bytes=max(_count(env, "PROCESSOR_MAX_MESSAGE_BYTES", "1048576"), 1),
            reject_payload_bytes=max(_count(env, "PROCESSOR_REJECT_PAYLOAD_BYTES", "4096"), 1),
            on_data_loss=_choice(env, "PROCESSOR_ON_DATA_LOSS", "fail", ("fail", "continue")),
            spark_ui=_choice(env, "PROCESSOR_SPARK_UI", "off", SPARK_UI_MODES),
            raw_retention_days=_retention(env),
        )

    def with_overrides(self, **changes: object) -> ProcessorSettings:
        """Return a copy with some fields replaced (command-line flags, tests)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def pg_conninfo(self) -> str:
        """libpq connection string for the processor's role, with search_path set to the schema."""
        return self.pg.conninfo(
            options=f"-c search_path={self.pg.schema},public -c TimeZone=UTC",
            application_name=f"clickstream-processor:{self.pg.schema}",
            connect_timeout=5,
        )

    def describe(self) -> str:
        """One line per setting, secrets masked, for the start-up banner."""
        flat = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "pg"}
        flat.update({f"pg_{f.name}": getattr(self.pg, f.name) for f in fields(self.pg)})
        return "\n".join(f"  {name} = {mask(name, str(value))}" for name, value in flat.items())
