"""Command-line flags and the layering that turns flags, env and a config file into Settings.

Pure: takes parsed arguments and an env mapping (from infra.env.load_env at the entry point)
and returns a checked, frozen Settings, or raises ConfigError naming the setting to fix.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from infra.env import ConfigError
from infra.layers import Layer, load, put
from infra.layers import Path as Where
from infra.layers import env_layer as env_layer_of
from infra.version import add_version
from producer import scenarios
from producer.checks import EVERY, FLAG_EXAMPLES, WARM_UP_MODES
from producer.clock import DAY_MS, format_ms
from producer.config import SPECS_BY_PATH, ConfigFile, Settings, file_layer, known_keys

EARLIEST_MS = 946_684_800_000  # 2000-01-01T00:00:00Z: older event times are invalid (DESIGN §3)

DESCRIPTION = """\
Simulate an e-commerce shop's clickstream and send it to Kafka, a JSON-lines file or stdout.

modes:
  realtime (default)  events stamped with the wall clock, paced to --rate events/s and shaped by
                      the daily cycle (unless --flat); runs until Ctrl-C, --duration or --events;
                      starts warm: the last --warm-up (1h) goes out first, at full speed,
                      as history, so sessions are under way (--warm-up-mode simulate: unsent)
  backfill            simulated clock over past time, as fast as the sink takes it:
                      --start DATE --days N (or --events N); --rate sets how many events a day holds

settings, lowest precedence first: built-in defaults, .env.example, .env, the environment,
a config file (--config or PRODUCER_CONFIG; TOML, JSON or YAML with [run], [traffic], [behavior],
[faults] and [output] sections; see --print-config), then these flags.
"""

EPILOG = """\
environment: KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC, PRODUCER_RATE, PRODUCER_MAX_USERS,
PRODUCER_MAX_PRODUCTS, PRODUCER_SEED, PRODUCER_LEDGER_DIR, PRODUCER_OUTPUT, PRODUCER_CONFIG,
PRODUCER_PROGRESS_INTERVAL, PRODUCER_DELIVERY_REPORTS, PRODUCER_COMPRESSION, PRODUCER_WARM_UP,
PRODUCER_WARM_UP_MODE, PRODUCER_STOP_TIMEOUT, PRODUCER_SHARD, PRODUCER_WORKERS.

examples:
  ./start_producer.sh                                    # realtime to Kafka at PRODUCER_RATE
  ./start_producer.sh --mode backfill --start 2025-08-01 --days 7 --rate 20
  python -m producer.producer --mode backfill --events 1000000 --output jsonl:/tmp/events.jsonl
  python -m producer.producer --events 100 --output - --seed 7 | jq .event_type
  python -m producer.producer --mode backfill --days 7 --output parquet:/tmp/events  # by date
  KAFKA_TOPIC=x ./start_producer.sh --duplicates 0.01 --late 0.02 --max-lateness 10m
The ledger (JSON: events by type, sessions, orders, revenue, faults, delivery) path is printed
at the end. Docs: docs/producer.md.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one ConfigError line (with an example), not usage + exit."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage text."""
        flag = re.match(r"argument (--[\w-]+)", message)
        example = FLAG_EXAMPLES.get(flag.group(1)) if flag else None
        hint = f"; for example {example}" if example else ""
        raise ConfigError(f"{message}{hint} (see --help)")


def parser() -> argparse.ArgumentParser:
    """The argument parser; every default is None so unset flags never override env or file.

    Values are taken as text and validated by producer.config, like variables and files.
    """
    p = _Parser(
        prog="python -m producer.producer",
        description=DESCRIPTION,
        epilog=EPILOG + "\n" + scenarios.help_text() + "\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_version(p)
    g = p.add_argument_group("what and when")
    g.add_argument("--mode", choices=("realtime", "backfill"), help="default realtime")
    g.add_argument("--rate", help="average events/s over a day (PRODUCER_RATE, 200)")
    g.add_argument("--flat", action="store_true", default=None, help="no daily/weekly cycle")
    g.add_argument("--start", help="backfill: first simulated instant, e.g. 2025-08-01")
    g.add_argument("--days", help="backfill: simulated days (default 1)")
    g.add_argument("--events", help="stop after this many valid events")
    g.add_argument("--duration", help="stop after this much wall time, e.g. 30s, 20m, 2h")
    g.add_argument(
        "--warm-up",
        help="realtime: simulate this much time before the start, so sessions are under way "
        "from the first second (PRODUCER_WARM_UP, 1h; 0 = cold start)",
    )
    g.add_argument(
        "--warm-up-mode",
        choices=WARM_UP_MODES,
        help="send (default): the warm-up span goes out first, at full speed, as history; "
        "simulate: it is simulated but never sent (PRODUCER_WARM_UP_MODE)",
    )
    g.add_argument(
        "--scenario",
        action="append",
        help="NAME[:key=value,...]: inject a scenario with ground truth in the ledger; "
        "repeatable (config run.scenarios); the scenarios and their defaults are listed below",
    )
    g.add_argument("--seed", help="same seed and settings = same bytes (PRODUCER_SEED)")
    g.add_argument("--users", help="user pool size (PRODUCER_MAX_USERS, 5000)")
    g.add_argument("--products", help="catalog size (PRODUCER_MAX_PRODUCTS, 500)")
    g.add_argument("--config", help="config file: .toml, .json or .yaml (PRODUCER_CONFIG)")
    g.add_argument(
        "--workers",
        help="N processes on this machine, one shard each, one progress line and one merged "
        "ledger (PRODUCER_WORKERS, 1); with --shard I/M they split that shard",
    )
    g.add_argument(
        "--shard",
        help="I/N: be producer I of N of one run (PRODUCER_SHARD): 1/N of the rate, users and "
        "--events, disjoint users and sessions, derived from --seed (give every shard the same)",
    )
    o = p.add_argument_group("where")
    o.add_argument(
        "--output",
        help="kafka (default) | jsonl:PATH | parquet:DIR (typed, by event date) | - for stdout",
    )
    o.add_argument("--topic", help="Kafka topic (KAFKA_TOPIC, clickstream.raw)")
    o.add_argument("--bootstrap-servers", help="Kafka servers (KAFKA_BOOTSTRAP_SERVERS)")
    o.add_argument(
        "--no-create-topic",
        action="store_true",
        default=None,
        help="a missing topic is an error (exit 2, with the command that creates it) instead of "
        "being created with KAFKA_PARTITIONS partitions",
    )
    o.add_argument("--compression", help="lz4 (default), zstd, snappy, gzip or none")
    o.add_argument(
        "--delivery-reports",
        choices=("all", "errors"),
        help="all: count every delivery report (default); errors: only failures, faster",
    )
    o.add_argument("--ledger", help="ledger file (default PRODUCER_LEDGER_DIR/producer-*.json)")
    o.add_argument("--progress", help="progress line interval, e.g. 5s; 0 turns it off")
    o.add_argument(
        "--stop-timeout",
        help="after Ctrl-C or SIGTERM, wait this long for unconfirmed messages, then write the "
        "ledger (PRODUCER_STOP_TIMEOUT, 5s; a second stop gives up at once)",
    )
    f = p.add_argument_group("fault injection (all off by default; every fault is counted)")
    f.add_argument("--duplicates", help="P(re-send an event with the same event_id)")
    f.add_argument("--late", help="P(an event is delivered after later ones)")
    f.add_argument("--max-lateness", help="how late a late event can be, e.g. 10m (default 5m)")
    f.add_argument(
        "--malformed",
        help="P(send a broken message too: invalid JSON, missing field, bad type, unknown type)",
    )
    x = p.add_argument_group("other")
    x.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective settings as a config file (JSON) and exit",
    )
    x.add_argument(
        "--show-settings",
        action="store_true",
        help="print every setting with its variable, flag and config key, and exit",
    )
    x.add_argument(
        "--config-schema",
        action="store_true",
        help="print the config file's JSON Schema (config/producer.schema.json) and exit",
    )
    x.add_argument("--profile", action="store_true", help="print behaviour statistics, exit")
    return p


def parse_output(text: str, given_as: str = "--output") -> dict[str, str]:
    """`kafka`, `jsonl:PATH`, `parquet:DIR` or `-` into output settings."""
    text = text.strip()
    if text == "kafka":
        return {"kind": "kafka"}
    if text in ("-", "stdout"):
        return {"kind": "stdout"}
    for kind in ("jsonl", "parquet"):
        if text.startswith(f"{kind}:") and len(text) > len(kind) + 1:
            return {"kind": kind, "path": text[len(kind) + 1 :]}
    raise ConfigError(
        f"{given_as} {text!r}: use kafka, jsonl:PATH, parquet:DIR or - (stdout), "
        "for example --output jsonl:/tmp/events.jsonl"
    )


# The producer's variables that set one value each (PRODUCER_OUTPUT and PRODUCER_COMPRESSION
# are read apart: one sets two values, the other a Kafka property).
ENV_PATHS: dict[str, Where] = {
    spec.env: tuple(key.split("."))
    for key, spec in EVERY.items()
    if spec.env and spec.env not in ("PRODUCER_OUTPUT", "PRODUCER_COMPRESSION")
}


def env_layer(env: Mapping[str, str]) -> Layer:
    """The producer's environment variables as a layer (empty values are ignored)."""
    layer = env_layer_of(ConfigFile, env, ENV_PATHS)
    if v := (env.get("PRODUCER_OUTPUT") or "").strip():
        for name, value in parse_output(v, "PRODUCER_OUTPUT").items():
            put(layer.values, ("output", name), value)
            layer.given["output", name] = "PRODUCER_OUTPUT"
    if v := (env.get("PRODUCER_COMPRESSION") or "").strip():
        put(layer.values, ("output", "kafka"), {"compression.type": v})
        layer.given["output", "kafka"] = "PRODUCER_COMPRESSION"
    return layer


def flag_layer(args: argparse.Namespace) -> Layer:
    """The flags that were given, as a layer (text, as typed: pydantic converts it)."""
    values: dict[str, Any] = {}
    given: dict[Where, str] = {}

    def take(key: str, value: Any, flag: str) -> None:
        path = tuple(key.split("."))
        put(values, path, value)
        given[path] = flag

    for spec in EVERY.values():
        name = spec.flag[2:].replace("-", "_")
        text = getattr(args, name, None) if spec.flag else None
        if text is not None and spec.flag not in ("--output", "--compression", "--flat"):
            take(spec.key, False if spec.flag == "--no-create-topic" else text, spec.flag)
    if args.flat:
        take("traffic.flat", True, "--flat")
    if args.output is not None:
        for name, value in parse_output(args.output, "--output").items():
            take(f"output.{name}", value, "--output")
    if args.compression is not None:
        take("output.kafka", {"compression.type": args.compression}, "--compression")
    return Layer(ConfigFile, values, given)


def seed_layer(seed: int) -> Layer:
    """The seed drawn at the edge, below every other layer."""
    return Layer(ConfigFile, {"run": {"seed": seed}}, {("run", "seed"): "a seed drawn at start"})


def time_range(settings: Settings, now_ms: int) -> tuple[int, int | None]:
    """Start and end of simulated time: the wall clock in realtime, --start/--days in backfill."""
    run = settings.run
    if run.mode == "realtime":
        return now_ms, None
    start = run.start_ms
    days = run.days if run.days is not None else (None if run.events is not None else 1.0)
    if start is None:  # the last whole days before today (UTC)
        start = now_ms // DAY_MS * DAY_MS - int((days or 1.0) * DAY_MS)
    return start, None if days is None else start + int(days * DAY_MS)


# How far past the clock a backfill may reach: the processor's default PROCESSOR_MAX_FUTURE.
FUTURE_SLACK_MS = 5 * 60 * 1000


def check_time_range(settings: Settings, now_ms: int) -> None:
    """A backfill lies between 2000 (older events are invalid downstream) and now (plus the
    few minutes the processor allows)."""
    if settings.run.mode != "backfill":
        return
    start, end = time_range(settings, now_ms)
    if start <= now_ms and end is not None and end > now_ms + FUTURE_SLACK_MS:
        days = (now_ms - start) / DAY_MS
        raise ConfigError(
            f"the backfill would end at {format_ms(end)}, in the future: its last events would "
            "be rejected downstream (timestamp_in_future); give an earlier --start or fewer "
            f"--days, for example --days {max(days, 0.0001):.4g}"
        )
    if start > now_ms:
        raise ConfigError(
            f"--start {format_ms(start)} is in the future: a backfill simulates past time; "
            f"for example --start {format_ms(now_ms - 7 * DAY_MS)[:10]} --days 7, "
            "or --mode realtime for events stamped with the clock"
        )
    if start < EARLIEST_MS:
        raise ConfigError(
            f"the backfill would start at {format_ms(start)}, before 2000-01-01, where events "
            "are invalid: give a later --start or fewer --days, for example --days 7"
        )


def build_settings(
    args: argparse.Namespace,
    env: Mapping[str, str],
    default_seed: int,
    now_ms: int | None = None,
) -> Settings:
    """Defaults < env (with .env files) < config file < flags, validated by pydantic-settings.

    With `now_ms` (the wall clock, from the entry point) a backfill range is checked too.
    """
    layers = [flag_layer(args)]
    config_path = args.config or (env.get("PRODUCER_CONFIG") or "").strip()
    if config_path:
        layers.append(file_layer(config_path))
    layers += [env_layer(env), seed_layer(default_seed)]
    settings = load(ConfigFile, layers, SPECS_BY_PATH, known_keys).settings()
    check(settings)
    if now_ms is not None:
        check_time_range(settings, now_ms)
    return settings


def check(settings: Settings) -> Settings:
    """What no single value shows: settings that only make sense together."""
    r, o = settings.run, settings.output
    if r.mode == "realtime" and (r.start_ms is not None or r.days is not None):
        raise ConfigError(
            "--start and --days belong to --mode backfill; realtime uses the clock "
            "(for example --mode backfill --start 2025-08-01 --days 7)"
        )
    if o.kind == "jsonl" and not o.path:
        raise ConfigError("--output jsonl needs a path, for example --output jsonl:/tmp/e.jsonl")
    if o.kind == "parquet" and not o.path:
        raise ConfigError(
            "--output parquet needs a directory, for example --output parquet:/tmp/ev"
        )
    return settings
