"""Bad values of any numeric setting (flag, variable or config key) fail at once: one line, exit 2.

The subprocess tests run the real entry point, so a traceback, a second line or a hang (as
`--rate inf` once did, growing to 13 GB) shows up as it would for a user. Their run time is
compared with a run that only prints its settings, so a slow start does not count.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.env import ROOT, ConfigError
from producer import cli
from producer.checks import LIMITS, Limit

NOW_MS = 1_767_225_600_000  # 2026-01-01
SAFE = ["--output", "jsonl:/dev/null", "--progress", "0"]  # never Kafka, even if a check fails


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment without producer or Kafka settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCER_", "KAFKA_"))}
    return {**env, **(extra or {})}


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str, float]:
    """Run the producer; return exit code, stdout, stderr and wall seconds."""
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "producer.producer", *argv],
        cwd=ROOT,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - t0


@pytest.fixture(scope="module")
def startup_s() -> float:
    """Wall time of a run that parses everything and exits: interpreter start and imports."""
    code, _, _, seconds = run(["--print-config", *SAFE])
    assert code == 0
    return seconds


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


BAD_FLAGS = [
    (["--rate", "inf", "--events", "1", "--output", "-"], "--rate"),
    (["--rate", "nan"], "--rate"),
    (["--rate", "0"], "--rate"),
    (["--rate", "-5"], "--rate"),
    (["--rate", "1e9"], "--rate"),
    (["--rate", "fast"], "--rate"),
    (["--events", "-1"], "--events"),
    (["--events", "1.5"], "--events"),
    (["--users", "0"], "--users"),
    (["--users", "1e12"], "--users"),
    (["--products", "-2"], "--products"),
    (["--products", "10000000"], "--products"),
    (["--mode", "backfill", "--days", "0"], "--days"),
    (["--mode", "backfill", "--days", "inf"], "--days"),
    (["--duplicates", "1.5"], "--duplicates"),
    (["--late", "-0.1"], "--late"),
    (["--malformed", "nan"], "--malformed"),
    (["--late", "0.1", "--max-lateness", "inf"], "--max-lateness"),
    (["--max-lateness", "30d"], "--max-lateness"),
    (["--seed", "-1"], "--seed"),
    (["--seed", "1.5"], "--seed"),
    (["--duration", "nan"], "--duration"),
    (["--duration", "soon"], "--duration"),
    (["--warm-up", "-1h"], "--warm-up"),
    (["--warm-up-mode", "later"], "--warm-up-mode"),
    (["--progress", "inf"], "--progress"),
    (["--stop-timeout", "1d"], "--stop-timeout"),
    (["--mode", "backfill", "--start", "2999-01-01"], "--start"),
    (["--mode", "backfill", "--start", "1990-01-01"], "2000"),
    (["--mode", "backfill", "--start", "yesterday"], "--start"),
    (["--mode", "sideways"], "--mode"),
    (["--rate"], "--rate"),
    (["--topic", "no spaces"], "--topic"),
    (["--compression", "brotli"], "--compression"),
]
BAD_ENV = [
    ({"PRODUCER_RATE": "inf"}, "PRODUCER_RATE"),
    ({"PRODUCER_RATE": "0"}, "PRODUCER_RATE"),
    ({"PRODUCER_MAX_USERS": "0"}, "PRODUCER_MAX_USERS"),
    ({"PRODUCER_MAX_PRODUCTS": "many"}, "PRODUCER_MAX_PRODUCTS"),
    ({"PRODUCER_SEED": "1.5"}, "PRODUCER_SEED"),
    ({"PRODUCER_WARM_UP": "nan"}, "PRODUCER_WARM_UP"),
    ({"PRODUCER_WARM_UP_MODE": "later"}, "PRODUCER_WARM_UP_MODE"),
    ({"PRODUCER_STOP_TIMEOUT": "-1"}, "PRODUCER_STOP_TIMEOUT"),
    ({"PRODUCER_PROGRESS_INTERVAL": "often"}, "PRODUCER_PROGRESS_INTERVAL"),
]
BAD_FILES = [
    ("c.toml", "[traffic]\nrate = inf\n", "traffic.rate"),
    ("c.toml", "[behavior]\nusers = 2.5\n", "behavior.users"),
    ("c.json", '{"run": {"events": -5}}', "run.events"),
    ("c.json", '{"run": {"events": "many"}}', "run.events"),
    ("c.json", '{"run": {"warm_up_mode": "later"}}', "run.warm_up_mode"),
    ("c.json", '{"faults": {"max_lateness": NaN}}', "faults.max_lateness"),
    ("c.json", '{"faults": {"max_lateness_s": NaN}}', "faults.max_lateness"),  # the old key
    ("c.toml", '[faults]\nmax_lateness = "soon"\n', "faults.max_lateness"),
    ("c.toml", '[run]\nstart = "yesterday"\n', "run.start"),
    ("c.yaml", "faults:\n  late: 2\n", "faults.late"),
    ("c.yaml", "behavior:\n  max_session_events: 0\n", "behavior.max_session_events"),
    ("c.yaml", "behavior:\n  think_time_median: .inf\n", "behavior.think_time_median"),
    ("c.json", '{"traffic": {"daily": [' + ",".join(["0"] * 24) + "]}}", "traffic.daily"),
    ("c.json", '{"behavior": {"engagement": [0, 1]}}', "behavior.engagement"),
]


def assert_one_line_error(code: int, out: str, err: str, name: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert name in lines[0] and "Traceback" not in err
    assert "for example" in lines[0] or "write it like" in lines[0]
    assert out == ""


@pytest.mark.parametrize(("argv", "name"), BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_a_bad_flag_is_one_line_and_exit_2(argv: list[str], name: str, startup_s: float) -> None:
    code, out, err, seconds = run([*SAFE, *argv])
    assert_one_line_error(code, out, err, name)
    assert seconds < startup_s + 1.0


@pytest.mark.parametrize(("env", "name"), BAD_ENV, ids=[str(e) for e, _ in BAD_ENV])
def test_a_bad_variable_is_one_line_and_exit_2(
    env: dict[str, str], name: str, startup_s: float
) -> None:
    code, out, err, seconds = run(SAFE, env)
    assert_one_line_error(code, out, err, name)
    assert seconds < startup_s + 1.0


@pytest.mark.parametrize(("file", "text", "name"), BAD_FILES, ids=[t for _, t, _ in BAD_FILES])
def test_a_bad_config_value_is_one_line_and_exit_2(
    file: str, text: str, name: str, tmp_path: Path, startup_s: float
) -> None:
    code, out, err, seconds = run([*SAFE, "--config", write(tmp_path, file, text)])
    assert_one_line_error(code, out, err, name)
    assert seconds < startup_s + 1.0


def outside(limit: Limit) -> list[float]:
    """Values every limit must refuse: not finite, and just past each end of its range."""
    values = [math.nan, math.inf, -math.inf, limit.high * 2 + 1, limit.low - 1]
    if limit.above:
        values.append(limit.low)
    if limit.integer:
        values.append(limit.low + 0.5)
    return values


def build(argv: list[str], env: dict[str, str] | None = None, files: dict | None = None):
    args = cli.parser().parse_args(argv)
    return cli.build_settings(args, env or {}, default_seed=7, now_ms=NOW_MS)


@pytest.mark.parametrize("limit", LIMITS.values(), ids=list(LIMITS))
def test_every_limit_refuses_each_form(limit: Limit, tmp_path: Path) -> None:
    """Flag, variable and config key of one setting share one check and one message."""
    mode = ["--mode", "backfill"] if limit.key == "run.days" else []
    section, name = limit.key.split(".")
    for value in outside(limit):
        text = f"{value:g}" if not limit.duration or not math.isfinite(value) else f"{value:g}s"
        forms: list[tuple[list[str], dict[str, str]]] = []
        if limit.flag:
            forms.append(([*mode, limit.flag, text], {}))
        if limit.env:
            forms.append((mode, {limit.env: text}))
        config = tmp_path / "c.json"
        config.write_text(json.dumps({section: {name: value}}))
        forms.append(([*mode, "--config", str(config)], {}))
        for argv, env in forms:
            with pytest.raises(ConfigError, match=r"for example|write it like") as exc:
                build(argv, env)
            assert limit.flag in str(exc.value) or (limit.env or limit.key) in str(exc.value)


@pytest.mark.parametrize("limit", LIMITS.values(), ids=list(LIMITS))
def test_every_limit_takes_its_own_example(limit: Limit) -> None:
    if not limit.flag:
        return
    mode = ["--mode", "backfill"] if limit.key == "run.days" else []
    build([*mode, limit.flag, limit.example])


def test_every_numeric_flag_has_a_limit() -> None:
    """A new numeric flag cannot skip the checks: each flag is in the table or known as text."""
    text_flags = {"--mode", "--start", "--config", "--output", "--topic", "--bootstrap-servers"}
    text_flags |= {"--compression", "--delivery-reports", "--warm-up-mode", "--ledger", "--shard"}
    text_flags |= {"--scenario"}  # parsed by producer.scenarios (tests/producer/test_scenarios.py)
    flags = {a.option_strings[0] for a in cli.parser()._actions if a.nargs is None}
    flags -= {"--help"}
    with_limit = {limit.flag for limit in LIMITS.values() if limit.flag}
    assert flags - text_flags == with_limit


def test_a_backfill_must_start_in_the_past() -> None:
    with pytest.raises(ConfigError, match="in the future"):
        build(["--mode", "backfill", "--start", "2026-01-02"])
    build(["--mode", "backfill", "--start", "2025-12-31", "--days", "1"])
    with pytest.raises(ConfigError, match="before 2000"):
        build(["--mode", "backfill", "--days", "20000"])  # default start: the days before today
