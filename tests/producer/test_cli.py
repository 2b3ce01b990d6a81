"""Flags, environment and config file layer into Settings; bad input fails with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.env import ConfigError
from producer import cli
from producer.producer import main, time_range

ENV = {"KAFKA_TOPIC": "clickstream.raw", "PRODUCER_RATE": "50", "PRODUCER_MAX_USERS": "5000"}


def build(argv: list[str], env: dict[str, str] | None = None):
    args = cli.parser().parse_args(argv)
    return cli.build_settings(args, {**ENV, **(env or {})}, default_seed=77)


def test_defaults_env_and_flags_layer_in_order() -> None:
    s = build([])
    assert (s.run.mode, s.output.kind, s.output.topic, s.traffic.rate) == (
        "realtime",
        "kafka",
        "clickstream.raw",
        50.0,
    )
    assert s.run.seed == 77  # drawn at the edge when not given
    s = build([], {"KAFKA_TOPIC": "x", "PRODUCER_SEED": "5", "PRODUCER_RATE": "7.5"})
    assert (s.output.topic, s.run.seed, s.traffic.rate) == ("x", 5, 7.5)
    s = build(["--topic", "y", "--rate", "9", "--seed", "6"], {"KAFKA_TOPIC": "x"})
    assert (s.output.topic, s.traffic.rate, s.run.seed) == ("y", 9.0, 6)


def test_output_forms() -> None:
    assert build(["--output", "-"]).output.kind == "stdout"
    s = build(["--output", "jsonl:/tmp/x.jsonl"])
    assert (s.output.kind, s.output.path) == ("jsonl", "/tmp/x.jsonl")
    assert build([], {"PRODUCER_OUTPUT": "jsonl:/tmp/e.jsonl"}).output.path == "/tmp/e.jsonl"


def test_backfill_range_and_durations() -> None:
    s = build(
        ["--mode", "backfill", "--start", "2025-08-01", "--days", "2", "--max-lateness", "10m"]
    )
    start, end = time_range(s, now_ms=0)
    assert end - start == 2 * 86_400_000
    assert s.faults.max_lateness_s == 600
    s = build(["--mode", "backfill", "--events", "10"])
    start, end = time_range(s, now_ms=1_755_000_000_000)
    assert end is None and start % 86_400_000 == 0
    s = build(["--duration", "2h"])
    assert s.run.duration_s == 7200 and time_range(s, 123) == (123, None)


def test_config_file_sits_between_env_and_flags(tmp_path: Path) -> None:
    config = tmp_path / "shop.toml"
    config.write_text(
        "[behavior]\nbounce_rate = 0.3\ndevice_mix = [0.7, 0.25, 0.05]\n"
        "[traffic]\nrate = 12\n[output]\nkafka = { 'linger.ms' = 5 }\n"
    )
    s = build(["--config", str(config)])
    assert s.behavior.bounce_rate == 0.3 and s.behavior.device_mix == (0.7, 0.25, 0.05)
    assert s.traffic.rate == 12.0 and s.output.kafka == {"linger.ms": 5}
    assert build(["--config", str(config), "--rate", "3"]).traffic.rate == 3.0


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--output", "kafak"], {}, "use kafka, jsonl:PATH, parquet:DIR or -"),
        (["--start", "2025-01-01"], {}, "belong to --mode backfill"),
        (["--duplicates", "1.5"], {}, "probability from 0 to 1"),
        (["--duration", "soon"], {}, "invalid duration"),
        (["--mode", "backfill", "--start", "yesterday"], {}, "invalid date"),
        (
            [],
            {"PRODUCER_RATE": "fast"},
            r"PRODUCER_RATE='fast' \(--rate, config traffic.rate\) must be a number above 0 "
            "and at most 1,000,000; for example PRODUCER_RATE=50",
        ),
        (["--rate", "0"], {}, r"--rate \(PRODUCER_RATE, config traffic.rate\) must be a number"),
    ],
)
def test_bad_settings_name_what_to_fix(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(argv, env)


def test_unknown_config_keys_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"behavior": {"bounce": 0.3}}))
    with pytest.raises(ConfigError, match=r"unknown setting behavior\.bounce"):
        build(["--config", str(config)])


def test_main_reports_configuration_errors_with_exit_code_2(capsys) -> None:
    assert main(["--output", "nowhere"]) == 2
    assert "configuration error" in capsys.readouterr().err


def test_help_and_print_config(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--mode", "--rate", "--duplicates", "--late", "--malformed", "--output"):
        assert flag in out
    assert main(["--print-config", "--seed", "3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["run"]["seed"] == 3 and printed["output"]["kind"] == "kafka"
