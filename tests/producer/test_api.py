"""`simulate(...)`, the Python API: the CLI's messages, lazily, as texts, dicts or Arrow."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

import contract
from infra.env import ConfigError
from producer import simulate
from producer.parquet_sink import SCHEMA
from producer.producer import main

OPTIONS = {"events": 6000, "seed": 7, "start": "2025-08-01", "rate": 20}
FAULTS = {"duplicates": 0.02, "late": 0.02, "malformed": 0.02, "max_lateness": "10m"}


def test_the_same_seed_gives_the_clis_messages_byte_for_byte(tmp_path: Path) -> None:
    out, ledger = tmp_path / "cli.jsonl", tmp_path / "ledger.json"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**OPTIONS, **FAULTS}.items()]
    argv = ["--mode", "backfill", *flags, "--output", f"jsonl:{out}", "--ledger", str(ledger)]
    assert main([*argv, "--progress", "0"]) == 0
    sim = simulate(**OPTIONS, **FAULTS)
    assert list(sim.lines()) == out.read_text().splitlines()
    record = json.loads(ledger.read_text())
    summary = sim.summary()
    for key in ("events", "sessions", "users", "orders", "revenue", "faults", "messages_sent"):
        assert summary[key] == record[key], key


def test_events_are_the_valid_messages_as_dicts_and_batches_their_arrow_form() -> None:
    events = list(simulate(**OPTIONS, **FAULTS))
    sim = simulate(**OPTIONS, **FAULTS)
    batches = list(sim.batches(rows=1000))
    summary = sim.summary()
    assert len(events) == summary["events"]["total"] + summary["faults"]["duplicates"]
    assert all(contract.first_reason(e) is None for e in events)
    assert all(b.schema.equals(SCHEMA) for b in batches)
    assert max(b.num_rows for b in batches) == 1000
    assert sum(b.num_rows for b in batches) == len(events)
    assert [e["event_id"] for e in events[:5]] == batches[0].column("event_id").to_pylist()[:5]
    other = list(simulate(**{**OPTIONS, "seed": 8}))
    assert other[0]["event_id"] != events[0]["event_id"]


def test_it_is_lazy_a_long_backfill_yields_its_first_events_at_once() -> None:
    sim = simulate(days=30, seed=1, start="2025-05-05")  # about 500M events in all
    first = list(itertools.islice(sim, 10))
    # Generated so far: the first chunk, not the run (no clock: tests assert no timings).
    assert len(first) == 10 and 10 <= sim.summary()["events"]["total"] <= 5_000
    assert first[0]["timestamp"].startswith("2025-05-05")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate": "fast"}, "not 'fast'; for example --rate 50"),
        ({"duplicates": 2}, "--duplicates"),
        ({"start": "yesterday-ish"}, "--start"),
        ({"bogus": 1}, "has no option bogus="),
        ({"output": "kafka"}, "takes no output="),
    ],
)
def test_a_bad_option_is_a_config_error_that_names_it(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        simulate(**options)


def test_without_a_seed_one_is_drawn_and_kept() -> None:
    sim = simulate(events=50, start="2025-08-01")
    again = simulate(events=50, start="2025-08-01", seed=sim.seed)
    assert list(sim.lines()) == list(again.lines())


def test_a_shard_gives_the_clis_shard_faults_included(tmp_path: Path) -> None:
    out = tmp_path / "shard.jsonl"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**OPTIONS, **FAULTS}.items()]
    argv = ["--mode", "backfill", *flags, "--shard", "2/3", "--output", f"jsonl:{out}"]
    assert main([*argv, "--ledger", str(tmp_path / "l.json"), "--progress", "0"]) == 0
    assert list(simulate(**OPTIONS, **FAULTS, shard="2/3").lines()) == out.read_text().splitlines()
