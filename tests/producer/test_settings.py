"""The producer's settings layer (pydantic-settings): one line per bad value naming it as it was
given, the same duration and date forms everywhere, --show-settings and the config schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from infra.env import ConfigError, load_env
from producer import cli
from producer.checks import EVERY
from producer.config import SCHEMA_PATH, SECTIONS, Settings, config_schema
from producer.producer import main

NOW_MS = 1_767_225_600_000  # 2026-01-01


def build(argv: list[str], env: dict[str, str] | None = None) -> Settings:
    args = cli.parser().parse_args(argv)
    return cli.build_settings(args, env or {}, default_seed=7, now_ms=NOW_MS)


def config(tmp_path: Path, name: str, text: str) -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    return ["--config", str(path)]


def error(argv: list[str], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        build(argv, env)
    message = str(caught.value)
    assert "\n" not in message and "validation error" not in message.lower()
    return message


def test_a_bad_variable_is_named_as_a_variable_with_an_example() -> None:
    message = error([], {"PRODUCER_WARM_UP": "2 weeks"})
    assert message.startswith("PRODUCER_WARM_UP='2 weeks' (--warm-up, config run.warm_up)")
    assert message.endswith("for example PRODUCER_WARM_UP=1h")
    message = error([], {"KAFKA_PARTITIONS": "0"})
    assert message.startswith("KAFKA_PARTITIONS='0' (config output.partitions) must be")
    assert message.endswith("for example KAFKA_PARTITIONS=3")


def test_a_bad_flag_is_named_as_a_flag_with_an_example() -> None:
    message = error(["--users", "0"])
    assert message == (
        "--users (PRODUCER_MAX_USERS, config behavior.users) must be a whole number from 1 to "
        "1,000,000, not '0'; for example --users 5000"
    )
    assert error(["--warm-up-mode", "send", "--topic", "a b"]).startswith("--topic (KAFKA_TOPIC")


def test_a_bad_config_value_is_named_by_its_key(tmp_path: Path) -> None:
    message = error(config(tmp_path, "c.toml", "[faults]\nmax_lateness = '2 days'\n"))
    assert message.startswith("config faults.max_lateness (--max-lateness)")
    assert message.endswith("for example max_lateness = 10m under [faults]")
    message = error(config(tmp_path, "c.yaml", "traffic:\n  rate: -1\n"))
    assert message.startswith("config traffic.rate (--rate, PRODUCER_RATE) must be a number")


def test_a_bad_config_key_lists_the_known_ones(tmp_path: Path) -> None:
    message = error(config(tmp_path, "c.toml", "[run]\nwarmup = '1h'\n"))
    assert message.startswith("unknown setting run.warmup in ")
    assert "known: days, duration, events, ledger_dir, ledger_path, mode" in message
    assert "warm_up, warm_up_mode, workers" in message
    message = error(config(tmp_path, "c.json", '{"shop": {}}'))
    assert "unknown config section [shop]" in message and "known: run, traffic" in message


def test_durations_and_dates_take_the_flags_forms_in_the_config_file(tmp_path: Path) -> None:
    text = (
        "[run]\nmode = 'backfill'\nstart = 2025-08-01\ndays = 2\nduration = '20m'\n"
        "progress = '500ms'\nstop_timeout = 7\n"
        "[faults]\nmax_lateness = '2h'\nduplicate_delay = '3s'\n"
        "[behavior]\nthink_time_median = '1m'\n"
    )
    s = build(config(tmp_path, "c.toml", text))
    assert (s.run.start_ms, s.run.duration_s, s.run.progress_s) == (1_754_006_400_000, 1200, 0.5)
    assert (s.run.stop_timeout_s, s.faults.max_lateness_s, s.faults.duplicate_delay_s) == (
        7,
        7200,
        3,
    )
    assert s.behavior.think_time_median_s == 60
    same = build(
        ["--mode", "backfill", "--start", "2025-08-01", "--days", "2", "--duration", "20m"]
    )
    assert same.run.start_ms == s.run.start_ms and same.run.duration_s == s.run.duration_s
    yaml = build(
        config(tmp_path, "c.yaml", "run:\n  mode: backfill\n  start: 2025-08-01T12:00:00Z\n")
    )
    assert yaml.run.start_ms == 1_754_049_600_000
    assert build(config(tmp_path, "c.json", '{"run": {"warm_up": "2h"}}')).run.warm_up_s == 7200


def test_the_old_config_keys_in_internal_units_still_work(tmp_path: Path) -> None:
    old = (
        '{"run": {"mode": "backfill", "start_ms": 1754006400000, "warm_up_s": 60}, '
        '"faults": {"max_lateness_s": 120}}'
    )
    s = build(config(tmp_path, "old.json", old))
    assert (s.run.start_ms, s.run.warm_up_s, s.faults.max_lateness_s) == (
        1_754_006_400_000,
        60,
        120,
    )


def test_a_bad_variable_fails_even_where_a_flag_overrides_it() -> None:
    assert error(["--rate", "5"], {"PRODUCER_RATE": "fast"}).startswith("PRODUCER_RATE='fast'")


def test_show_settings_names_each_variable_and_masks_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODUCER_RATE", "12.5")
    kafka = "[output]\nkafka = { 'sasl.password' = 'hunter2', 'sasl.username' = 'me' }\n"
    assert main(["--show-settings", *config(tmp_path, "c.toml", kafka), "--output", "-"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["variable", "flag", "config", "key", "value"]
    rows = {line.split()[2]: line.split() for line in out.splitlines()[1:]}
    assert (
        rows["traffic.rate"][:2] == ["PRODUCER_RATE", "--rate"]
        and rows["traffic.rate"][3] == "12.5"
    )
    assert (
        rows["run.warm_up"][:2] == ["PRODUCER_WARM_UP", "--warm-up"]
        and rows["run.warm_up"][3] == "1h"
    )
    assert rows["output.topic"][0] == "KAFKA_TOPIC"
    assert "hunter2" not in out and '"sasl.username": "****"' in out
    assert set(rows) == set(EVERY)


def test_print_config_is_a_config_file_of_the_same_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--mode", "backfill", "--start", "2025-08-01", "--days", "2", "--max-lateness", "9m"]
    assert main(["--print-config", *argv, "--seed", "4", "--output", "-"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed)["run"]["start"] == "2025-08-01T00:00:00.000Z"
    again = build(config(tmp_path, "again.json", printed))
    assert again == build([*argv, "--seed", "4", "--output", "-"], load_env())


def test_every_setting_has_its_names_in_the_table() -> None:
    keys = {
        f"{section}.{field.validation_alias or name}"
        for section, cls in SECTIONS.items()
        for name, field in cls.__pydantic_fields__.items()
    }
    assert keys == set(EVERY)


def test_the_committed_config_schema_is_generated_from_the_model() -> None:
    assert SCHEMA_PATH.read_text() == config_schema(), (
        f"{SCHEMA_PATH} is stale: run "
        "`python -m producer.producer --config-schema > config/producer.schema.json`"
    )


def test_the_schema_takes_what_the_producer_takes(tmp_path: Path) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    good = {
        "$schema": "config/producer.schema.json",
        "run": {"warm_up": "2h", "start": "2025-08-01"},
    }
    good |= {"faults": {"max_lateness_s": 30}, "traffic": {"rate": 50}}
    jsonschema.validate(good, schema)
    build(
        config(
            tmp_path, "good.json", json.dumps({**good, "run": {**good["run"], "mode": "backfill"}})
        )
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"run": {"warmup": "2h"}}, schema)
