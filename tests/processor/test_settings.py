"""ProcessorSettings.from_env: every value checked at start, each error naming its variable."""

from __future__ import annotations

import pytest

from infra.env import ConfigError, load_env
from processor.settings import ProcessorSettings


def settings(**env: str) -> ProcessorSettings:
    """The settings of .env.example's values with `env` on top (nothing of the caller's)."""
    return ProcessorSettings.from_env({**load_env(environ={}), **env})


def test_the_trigger_takes_durations_like_every_other_setting() -> None:
    assert settings().trigger_seconds == 0.5
    for raw, seconds in (("5", 5), ("5s", 5), ("500ms", 0.5), ("1m", 60), ("0.25", 0.25)):
        assert settings(PROCESSOR_TRIGGER_SECONDS=raw).trigger_seconds == seconds
    for raw in ("0", "0s", "-1", "soon", "2h"):
        with pytest.raises(ConfigError, match="PROCESSOR_TRIGGER_SECONDS"):
            settings(PROCESSOR_TRIGGER_SECONDS=raw)


def test_a_batch_waits_for_enough_messages_or_the_delay() -> None:
    default = settings()
    assert (default.min_offsets_per_trigger, default.max_trigger_delay_seconds) == (500, 2.0)
    tuned = settings(PROCESSOR_MIN_OFFSETS_PER_TRIGGER="0", PROCESSOR_MAX_TRIGGER_DELAY="750ms")
    assert (tuned.min_offsets_per_trigger, tuned.max_trigger_delay_seconds) == (0, 0.75)
    for name, raw in (
        ("PROCESSOR_MIN_OFFSETS_PER_TRIGGER", "-1"),
        ("PROCESSOR_MIN_OFFSETS_PER_TRIGGER", "many"),
        ("PROCESSOR_MAX_TRIGGER_DELAY", "0"),
        ("PROCESSOR_MAX_TRIGGER_DELAY", "2h"),
    ):
        with pytest.raises(ConfigError, match=name):
            settings(**{name: raw})
    # A minimum above the cap could never be met: refused, with a value that works.
    with pytest.raises(ConfigError) as caught:
        settings(PROCESSOR_MAX_OFFSETS_PER_TRIGGER="300")
    assert "PROCESSOR_MIN_OFFSETS_PER_TRIGGER=150" in str(caught.value)
    assert settings(PROCESSOR_MAX_OFFSETS_PER_TRIGGER="0").min_offsets_per_trigger == 500


@pytest.mark.parametrize(
    "good",
    ["local", "local[2]", "local[*]", "local[4,3]", "local-cluster[2,1,1024]",
     "spark://spark-master:7077", "spark://a:7077,b:7077", "yarn", "k8s://https://k:6443"],
)  # fmt: skip
def test_spark_master_urls_spark_knows_pass(good: str) -> None:
    assert settings(SPARK_MASTER=good).spark_master == good


@pytest.mark.parametrize("bad", ["yarnn", "local[0]", "local[x]", "spark://", "mesos://m:5050"])
def test_a_master_spark_would_refuse_is_one_line_naming_it(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"SPARK_MASTER=.* must be a Spark master URL"):
        settings(SPARK_MASTER=bad)


def test_driver_memory_is_a_jvm_size() -> None:
    for good in ("512m", "2g", "2G", "1024", "1t"):
        assert settings(SPARK_DRIVER_MEMORY=good).spark_driver_memory == good
    for bad in ("lots", "2 g", "0g", "-1g", "2gb"):
        with pytest.raises(ConfigError, match=r"SPARK_DRIVER_MEMORY=.* must be a JVM size"):
            settings(SPARK_DRIVER_MEMORY=bad)


def test_the_schema_is_a_plain_name_the_processor_can_put_in_its_search_path() -> None:
    assert settings(POSTGRES_SCHEMA="test_abc123").pg.schema == "test_abc123"
    for bad in ("bad-name", "Analytics", "1st", "a b", "x;drop", "a" * 64):
        with pytest.raises(ConfigError, match=r"POSTGRES_SCHEMA=.* must be a plain lowercase name"):
            settings(POSTGRES_SCHEMA=bad)


def test_raw_retention_is_whole_days_or_off() -> None:
    days = {
        given: settings(PROCESSOR_RAW_RETENTION=given).raw_retention_days
        for given in ("", "7d", "1d", "36h", "30d", "off", "0")
    }
    assert days == {"": 7, "7d": 7, "1d": 1, "36h": 2, "30d": 30, "off": 0, "0": 0}
    for bad in ("2h", "forever", "-1d", "40000d"):
        with pytest.raises(ConfigError, match="PROCESSOR_RAW_RETENTION"):
            settings(PROCESSOR_RAW_RETENTION=bad)


def test_a_flag_is_named_as_a_flag_and_a_variable_as_a_variable() -> None:
    env = {**load_env(environ={})}
    with pytest.raises(ConfigError) as caught:
        ProcessorSettings.from_env(env, flags={"PROCESSOR_TRIGGER_SECONDS": "soon"})
    assert str(caught.value).startswith("--trigger-seconds (PROCESSOR_TRIGGER_SECONDS): invalid")
    assert str(caught.value).endswith("for example --trigger-seconds 500ms")
    with pytest.raises(ConfigError) as caught:
        settings(PROCESSOR_MAX_OFFSETS_PER_TRIGGER="-3")
    assert str(caught.value) == (
        "PROCESSOR_MAX_OFFSETS_PER_TRIGGER='-3' (--max-offsets-per-trigger) must be a whole "
        "number >= 0; for example PROCESSOR_MAX_OFFSETS_PER_TRIGGER=200000"
    )
    flagged = ProcessorSettings.from_env(
        env, flags={"KAFKA_TOPIC": "other", "POSTGRES_SCHEMA": "s"}
    )
    assert (flagged.kafka_topic, flagged.pg.schema) == ("other", "s")


def test_a_missing_variable_says_where_it_was_looked_for() -> None:
    with pytest.raises(ConfigError, match=r"KAFKA_TOPIC is not set \(looked in the environment"):
        settings(KAFKA_TOPIC="  ")


def test_describe_names_each_variable_and_masks_the_password() -> None:
    text = settings(POSTGRES_PASSWORD="hunter2", PROCESSOR_TRIGGER_SECONDS="2s").describe()
    lines = {line.split()[0]: line.split() for line in text.splitlines()}
    assert lines["PROCESSOR_TRIGGER_SECONDS"][1:] == ["trigger_seconds", "=", "2.0"]
    assert lines["POSTGRES_PASSWORD"][1:] == ["pg_password", "=", "****"]
    assert "hunter2" not in text and "hunter2" not in repr(settings(POSTGRES_PASSWORD="hunter2"))


def test_settings_stay_frozen_and_overrides_are_checked() -> None:
    s = settings()
    with pytest.raises(AttributeError):
        s.kafka_topic = "x"  # type: ignore[misc]
    assert s.with_overrides(starting_offsets="latest").starting_offsets == "latest"
    with pytest.raises(ValueError):
        s.with_overrides(trigger_seconds="often")
