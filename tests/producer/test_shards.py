"""`--shard I/N`: disjoint, deterministic parts of one run that add up to its statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.env import ConfigError
from processor.ledger_check import LedgerError, combined, expectations
from producer.producer import main
from producer.shards import parse_shard, shard_seed, share
from producer.workers import merge_records

BASE = ["--mode", "backfill", "--start", "2025-05-05", "--days", "1", "--rate", "2"]
BASE += ["--seed", "9", "--progress", "0", "--duplicates", "0.01", "--malformed", "0.01"]


IDS = ("event_id", "user_id", "session_id", "product_id", "order_id")


def run(tmp_path: Path, name: str, *extra: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The valid events (parsed) and the ledger of one producer run."""
    out, ledger = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.json"
    assert main([*BASE, *extra, "--output", f"jsonl:{out}", "--ledger", str(ledger)]) == 0
    events = []
    for line in out.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a malformed message cut short
        if all(k in event for k in IDS):  # not one missing a field
            events.append(event)
    return events, json.loads(ledger.read_text())


def test_shard_text_seed_and_shares() -> None:
    assert parse_shard("2/4") == (2, 4) and parse_shard(" 1/1 ") == (1, 1)
    for bad in ("0/2", "3/2", "1", "a/b", "-1/2", "1/0", "1/2/3"):
        with pytest.raises(ConfigError, match="for example --shard 2/4"):
            parse_shard(bad)
    assert shard_seed(9, 1, 1) == 9
    assert len({shard_seed(9, i, 4) for i in (1, 2, 3, 4)} | {9}) == 5
    assert [share(1001, i, 2) for i in (1, 2)] == [501, 500]
    assert sum(share(5000, i, 7) for i in range(1, 8)) == 5000


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("shards")
    return {
        "whole": run(tmp, "whole"),
        "one": run(tmp, "one", "--shard", "1/2"),
        "two": run(tmp, "two", "--shard", "2/2"),
        "again": run(tmp, "again", "--shard", "2/2"),
        "1of1": run(tmp, "1of1", "--shard", "1/1"),
    }


def test_shards_are_disjoint_and_sell_the_same_catalog(runs: dict[str, Any]) -> None:
    (one, _), (two, _) = runs["one"], runs["two"]
    for field in ("user_id", "session_id", "event_id"):
        assert not {e[field] for e in one} & {e[field] for e in two}, field
    orders = [{e["order_id"] for e in s if e["order_id"]} for s in (one, two)]
    assert not orders[0] & orders[1]
    # The catalog is the run's: a shard with its own would share no product id at all.
    whole = {e["product_id"] for e in runs["whole"][0] if e["product_id"]}
    for shard in (one, two):
        products = {e["product_id"] for e in shard if e["product_id"]}
        assert len(products & whole) >= 0.95 * len(products) > 0


def test_a_shard_is_deterministic_and_1_of_1_is_the_whole_run(runs: dict[str, Any]) -> None:
    assert runs["two"][0] == runs["again"][0]
    assert runs["1of1"][0] == runs["whole"][0]
    assert runs["one"][1]["run"]["shard"] == "1/2" and runs["whole"][1]["run"]["shard"] == "1/1"


def test_two_shards_at_half_the_rate_have_the_statistics_of_the_whole(runs: dict[str, Any]) -> None:
    whole = runs["whole"][1]
    merged = merge_records([runs["one"][1], runs["two"][1]], 2)
    ratios: dict[str, tuple[float, float]] = {}
    for name, ledger in (("whole", whole), ("shards", merged)):
        events, sessions = ledger["events"], ledger["sessions"]
        ratios[name] = (
            events["total"] / sessions,  # events per session
            events["add_to_cart"] / events["page_view"],
        )
    assert abs(merged["events"]["total"] / whole["events"]["total"] - 1) < 0.05
    assert abs(merged["sessions"] / whole["sessions"] - 1) < 0.05
    assert abs(merged["users"] / whole["users"] - 1) < 0.05
    for w, s in zip(ratios["whole"], ratios["shards"], strict=True):
        assert abs(s / w - 1) < 0.1, (ratios["whole"], ratios["shards"])


def test_events_are_split_between_the_shards(tmp_path: Path) -> None:
    parts = [run(tmp_path, f"e{i}", "--shard", f"{i}/2", "--events", "1001")[1] for i in (1, 2)]
    assert [p["events"]["total"] for p in parts] == [501, 500]


def test_ledgers_of_shards_add_up_and_one_shard_twice_is_refused(runs: dict[str, Any]) -> None:
    one, two = runs["one"][1], runs["two"][1]
    merged, undelivered = combined([(Path("a"), one), (Path("b"), two)])
    assert undelivered == 0
    for name in ("events", "sessions", "users", "orders", "rejected", "duplicates"):
        assert merged[name] == expectations(one)[name] + expectations(two)[name]
    assert merged["revenue"] == expectations(one)["revenue"] + expectations(two)["revenue"]
    with pytest.raises(LedgerError, match="seed 9, shard 2/2"):
        combined([(Path("b"), two), (Path("c"), runs["again"][1])])


def test_a_bad_shard_is_one_line_naming_where_it_came_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["--mode", "backfill", "--events", "5", "--output", "jsonl:/dev/null", "--progress", "0"]
    assert main([*argv, "--shard", "3/2"]) == 2
    err = capsys.readouterr().err
    assert "--shard (PRODUCER_SHARD, config run.shard) must be I/N with 1 <= I <= N" in err
    assert "not '3/2'; for example --shard 2/4" in err
    monkeypatch.setenv("PRODUCER_SHARD", "two")
    assert main(argv) == 2
    assert "PRODUCER_SHARD='two' (--shard, config run.shard) must be I/N" in capsys.readouterr().err
    assert main([*argv, "--shard", "1/1"]) == 2  # a bad variable counts even under a flag
    assert "PRODUCER_SHARD='two' (--shard" in capsys.readouterr().err
    monkeypatch.delenv("PRODUCER_SHARD")
    assert main([*argv, "--shard", "1/9", "--users", "5"]) == 2
    assert "give at least --users 9" in capsys.readouterr().err
