"""The processor's settings: one frozen object built from the layered environment at the edge.

Entry points call `ProcessorSettings.from_env(load_env())` (with the flags that were given);
nothing below them reads os.environ. pydantic-settings validates every variable at once
(`ProcessorVariables`), and a bad one is one line naming it, its flag and an example.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

from infra.env import LOCAL, ConfigError, mask, parse_duration
from infra.layers import FROZEN, Count, Duration, Layered, Spec, from_variables
from infra.settings import PostgresTarget

# PROCESSOR_SPARK_UI: off (no web UI) or on (127.0.0.1 only, no kill links; spark_session.py).
SPARK_UI_MODES = ("off", "on")
DAY = 86_400.0


class ProcessorError(RuntimeError):
    """The processor cannot go on; the message names the stage and what to do next."""


# Spark's master URLs (local, local[N], local[*], local[N,F], a standalone cluster, YARN,
# Kubernetes) and JVM sizes (512m, 2g).
_MASTER = re.compile(
    r"local(\[(\*|[1-9][0-9]*)(,[1-9][0-9]*)?\])?|local-cluster\[[1-9][0-9]*,[1-9][0-9]*,[1-9][0-9]*\]"
    r"|spark://[^\s/,]+(,[^\s/,]+)*|yarn|k8s://\S+"
)
_MEMORY = re.compile(r"[1-9][0-9]*[kmgt]?", re.IGNORECASE)
# A schema the processor can name unquoted (it is spliced into search_path).
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _matching(pattern: re.Pattern[str]) -> AfterValidator:
    def check(value: str) -> str:
        if pattern.fullmatch(value) is None:
            raise PydanticCustomError("rule", "does not match")
        return value

    return AfterValidator(check)


def _offsets(value: str) -> str:
    if value not in ("earliest", "latest"):
        try:
            json.loads(value)
        except ValueError:
            raise PydanticCustomError("rule", "not offsets") from None
    return value


def _retention(value: Any) -> Any:
    """Whole days of raw_events and rejected_events kept (0 or off: keep everything). The
    tables are partitioned by day, so a duration is rounded up to days."""
    if isinstance(value, str) and value.strip().lower() in ("off", "0"):
        return 0
    try:
        seconds = parse_duration(value) if isinstance(value, str) else float(value)
    except (ValueError, TypeError):
        raise PydanticCustomError("rule", "not a retention") from None
    if not DAY <= seconds <= 36_500 * DAY:
        raise PydanticCustomError("rule", "not a retention")
    return math.ceil(seconds / DAY)


def _text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_text)]
# What each setting's variable is, its flag, what it takes and an example.
SPECS = {
    "kafka_bootstrap": Spec(env="KAFKA_BOOTSTRAP_SERVERS", example="127.0.0.1:9092",
                            text="host:port[,host:port...]"),
    "kafka_topic": Spec(env="KAFKA_TOPIC", flag="--topic", example="clickstream.raw",
                        text="a Kafka topic name"),
    "starting_offsets": Spec(env="KAFKA_STARTING_OFFSETS", flag="--starting-offsets",
                             example="earliest",
                             text="earliest, latest or Spark's JSON offsets such as "
                             '{"clickstream.raw":{"0":-2}}'),
    "checkpoint_dir": Spec(env="PROCESSOR_CHECKPOINT_DIR", flag="--checkpoint-dir",
                           example=".local/checkpoints/clickstream.raw", text="a folder"),
    "trigger_seconds": Spec(env="PROCESSOR_TRIGGER_SECONDS", flag="--trigger-seconds",
                            example="500ms",
                            text="a duration above 0 and at most 1h (5, 5s, 500ms)"),
    "min_offsets_per_trigger": Spec(env="PROCESSOR_MIN_OFFSETS_PER_TRIGGER", example="500",
                                    text="a whole number >= 0 (0: every trigger runs a batch)"),
    "max_trigger_delay_seconds": Spec(env="PROCESSOR_MAX_TRIGGER_DELAY", example="2s",
                                      text="a duration above 0 and at most 1h (2s, 1500ms)"),
    "max_lateness_seconds": Spec(env="PROCESSOR_MAX_LATENESS", example="1h",
                                 text="a duration (30s, 20m, 2h)"),
    "max_offsets_per_trigger": Spec(env="PROCESSOR_MAX_OFFSETS_PER_TRIGGER",
                                    flag="--max-offsets-per-trigger", example="200000",
                                    text="a whole number >= 0"),
    "spark_master": Spec(env="SPARK_MASTER", example="local[*]",
                         text="a Spark master URL: local, local[N], local[*], spark://HOST:PORT, "
                         "yarn or k8s://URL"),
    "spark_driver_memory": Spec(env="SPARK_DRIVER_MEMORY", example="2g",
                                text="a JVM size such as 512m or 2g"),
    "read_partitions": Spec(env="PROCESSOR_READ_PARTITIONS", example="8",
                            text="a whole number >= 0"),
    "db_retry_seconds": Spec(env="PROCESSOR_DB_RETRY_TIMEOUT", example="5m",
                             text="a duration (30s, 20m, 2h)"),
    "max_future_seconds": Spec(env="PROCESSOR_MAX_FUTURE", example="5m",
                               text="a duration of at most 1d"),
    "max_message_bytes": Spec(env="PROCESSOR_MAX_MESSAGE_BYTES", example="1048576",
                              text="a whole number >= 0"),
    "reject_payload_bytes": Spec(env="PROCESSOR_REJECT_PAYLOAD_BYTES", example="4096",
                                 text="a whole number >= 0"),
    "on_data_loss": Spec(env="PROCESSOR_ON_DATA_LOSS", example="fail",
                         text="one of fail, continue"),
    "spark_ui": Spec(env="PROCESSOR_SPARK_UI", example="off", text="one of off, on"),
    "raw_retention_days": Spec(env="PROCESSOR_RAW_RETENTION", example="7d",
                               text="at least 1d (partitions hold a day each) and at most "
                               "36500d, or off to keep every raw event"),
    "pg_schema": Spec(env="POSTGRES_SCHEMA", flag="--schema", example="analytics",
                   text="a plain lowercase name (letters, digits, _; not starting with a digit)"),
}  # fmt: skip


class ProcessorVariables(Layered):
    """The processor's variables as pydantic-settings validates them."""

    kafka_bootstrap: Text = Field(min_length=1)
    kafka_topic: Text = Field(min_length=1)
    starting_offsets: Annotated[Text, AfterValidator(_offsets)] = "earliest"
    checkpoint_dir: Text = ""
    trigger_seconds: Duration = Field(0.5, gt=0, le=3600)
    min_offsets_per_trigger: Count = Field(500, ge=0)
    max_trigger_delay_seconds: Duration = Field(2.0, gt=0, le=3600)
    max_lateness_seconds: Duration = 3600.0
    max_offsets_per_trigger: Count = Field(200_000, ge=0)
    spark_master: Annotated[Text, _matching(_MASTER)] = "local[*]"
    spark_driver_memory: Annotated[Text, _matching(_MEMORY)] = "2g"
    read_partitions: Count = Field(8, ge=0)
    db_retry_seconds: Duration = 300.0
    max_future_seconds: Duration = Field(300.0, le=DAY)
    max_message_bytes: Count = Field(1_048_576, ge=0)
    reject_payload_bytes: Count = Field(4096, ge=0)
    on_data_loss: Literal["fail", "continue"] = "fail"
    spark_ui: Literal["off", "on"] = "off"
    raw_retention_days: Annotated[int, BeforeValidator(_retention)] = "7d"  # type: ignore[assignment]
    pg_schema: Annotated[Text, _matching(_SCHEMA)] = "analytics"


def default_checkpoint_dir(topic: str, local: Path = LOCAL) -> Path:
    """Checkpoint folder derived from the topic name, so switching topics starts cleanly."""
    return local / "checkpoints" / re.sub(r"[^A-Za-z0-9._-]", "_", topic)


@dataclass(frozen=True, config=FROZEN)
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
    # A trigger runs a batch once this many messages wait, or the delay since the last batch
    # has passed (Spark's minOffsetsPerTrigger and maxTriggerDelay; not in --available-now).
    min_offsets_per_trigger: int = 500
    max_trigger_delay_seconds: float = 2.0

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        local: Path = LOCAL,
        flags: Mapping[str, object] | None = None,
    ) -> ProcessorSettings:
        """Build settings from a `load_env()` mapping and the flags given (keyed by the
        variable each stands for); raise ConfigError naming a bad one."""
        given = {k: v for k, v in (flags or {}).items() if v is not None}
        v = from_variables(ProcessorVariables, SPECS, env, given)
        pg = PostgresTarget.from_env({**env, **{k: str(x) for k, x in given.items()}})
        if 0 < v.max_offsets_per_trigger < v.min_offsets_per_trigger:
            raise ConfigError(
                f"PROCESSOR_MIN_OFFSETS_PER_TRIGGER={v.min_offsets_per_trigger} is above "
                f"PROCESSOR_MAX_OFFSETS_PER_TRIGGER={v.max_offsets_per_trigger}: no batch could "
                f"hold both; for example PROCESSOR_MIN_OFFSETS_PER_TRIGGER="
                f"{v.max_offsets_per_trigger // 2}"
            )
        return cls(
            kafka_bootstrap=v.kafka_bootstrap,
            kafka_topic=v.kafka_topic,
            starting_offsets=v.starting_offsets,
            checkpoint_dir=Path(v.checkpoint_dir)
            if v.checkpoint_dir
            else default_checkpoint_dir(v.kafka_topic, local),
            trigger_seconds=v.trigger_seconds,
            max_lateness_seconds=v.max_lateness_seconds,
            max_offsets_per_trigger=v.max_offsets_per_trigger,
            spark_master=v.spark_master,
            spark_driver_memory=v.spark_driver_memory,
            read_partitions=max(v.read_partitions, 1),
            db_retry_seconds=v.db_retry_seconds,
            pg=pg,
            max_future_seconds=v.max_future_seconds,
            max_message_bytes=max(v.max_message_bytes, 1),
            reject_payload_bytes=max(v.reject_payload_bytes, 1),
            on_data_loss=v.on_data_loss,
            spark_ui=v.spark_ui,
            raw_retention_days=v.raw_retention_days,
            min_offsets_per_trigger=v.min_offsets_per_trigger,
            max_trigger_delay_seconds=v.max_trigger_delay_seconds,
        )

    def with_overrides(self, **changes: object) -> ProcessorSettings:
        """Return a copy with some fields replaced (command-line flags, tests), validated."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def pg_conninfo(self) -> str:
        """libpq connection string for the processor's role, with search_path set to the schema."""
        return self.pg.conninfo(
            options=f"-c search_path={self.pg.schema},public -c TimeZone=UTC",
            application_name=f"clickstream-processor:{self.pg.schema}",
            connect_timeout=5,
        )

    def describe(self) -> str:
        """One line per setting, its variable first, secrets masked, for the start-up banner
        and --show-settings."""
        rows = [
            (SPECS[f.name].env if f.name in SPECS else "", f.name, getattr(self, f.name))
            for f in fields(self)
            if f.name != "pg"
        ]
        rows += [(env, f"pg_{name}", value) for env, name, value in self.pg.variables()]
        width = max(len(env) for env, _, _ in rows)
        return "\n".join(
            f"  {env or '-':<{width}}  {name} = {mask(env or name, str(value))}"
            for env, name, value in rows
        )
