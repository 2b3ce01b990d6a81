"""`--workers N`: N processes as one run: their shards' bytes, one progress line, one ledger."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from producer.producer import main
from tests.producer.proc import Producer

BASE = ["--mode", "backfill", "--start", "2025-05-05", "--days", "0.25", "--rate", "4"]
BASE += ["--seed", "5", "--duplicates", "0.01", "--late", "0.01", "--malformed", "0.01"]


def test_each_worker_writes_its_shards_bytes_and_the_ledger_adds_them_up(tmp_path: Path) -> None:
    out, ledger = tmp_path / "events.jsonl", tmp_path / "ledger.json"
    argv = [*BASE, "--workers", "2", "--output", f"jsonl:{out}", "--ledger", str(ledger)]
    assert main([*argv, "--progress", "0"]) == 0
    record = json.loads(ledger.read_text())
    shards = []
    for w in (1, 2):
        alone, alone_ledger = tmp_path / f"shard{w}.jsonl", tmp_path / f"shard{w}.json"
        shard = ["--shard", f"{w}/2", "--output", f"jsonl:{alone}", "--ledger", str(alone_ledger)]
        assert main([*BASE, *shard, "--progress", "0"]) == 0
        assert (tmp_path / f"events.w{w}.jsonl").read_bytes() == alone.read_bytes()
        shards.append(json.loads(alone_ledger.read_text()))
    assert record["run"]["workers"] == 2 and record["run"]["shard"] == "1/2,2/2"
    for name in ("sessions", "users", "orders", "messages_sent"):
        assert record[name] == shards[0][name] + shards[1][name], name
    for name in ("total", "page_view", "add_to_cart", "purchase"):
        assert record["events"][name] == sum(s["events"][name] for s in shards)
    assert record["faults"]["malformed_by_kind"] == {
        k: sum(s["faults"]["malformed_by_kind"][k] for s in shards)
        for k in record["faults"]["malformed_by_kind"]
    }
    assert record["revenue_cents"] == sum(s["revenue_cents"] for s in shards)
    assert [w["run"]["shard"] for w in record["workers"]] == ["1/2", "2/2"]


def test_workers_on_a_machine_split_its_shard(tmp_path: Path) -> None:
    out, ledger = tmp_path / "e.jsonl", tmp_path / "l.json"
    argv = [*BASE, "--shard", "2/2", "--workers", "2", "--output", f"jsonl:{out}"]
    assert main([*argv, "--ledger", str(ledger), "--progress", "0"]) == 0
    assert json.loads(ledger.read_text())["run"]["shard"] == "3/4,4/4"


def test_parquet_gets_a_partition_per_worker_and_stdout_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, ledger = tmp_path / "pq", tmp_path / "l.json"
    argv = [*BASE, "--workers", "2", "--output", f"parquet:{out}", "--ledger", str(ledger)]
    assert main([*argv, "--progress", "0"]) == 0
    record = json.loads(ledger.read_text())
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    assert set(table["worker"].to_pylist()) == {1, 2}
    assert table.num_rows == record["events"]["total"] + record["faults"]["duplicates"]
    assert main([*BASE, "--workers", "2", "--output", "-"]) == 2
    assert "not stdout" in capsys.readouterr().err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_ends_every_worker_and_the_ledger_counts_what_was_written(
    tmp_path: Path, sig: signal.Signals
) -> None:
    out, ledger = tmp_path / "events.jsonl", tmp_path / "ledger.json"
    argv = ["--mode", "backfill", "--start", "2025-05-05", "--days", "30", "--seed", "4"]
    argv += ["--workers", "2", "--malformed", "0.01", "--late", "0.01", "--progress", "0.2s"]
    producer = Producer([*argv, "--output", f"jsonl:{out}", "--ledger", str(ledger)])
    producer.wait_for("2 workers: ")  # one line for both
    producer.signal(sig)
    code, _ = producer.finish(timeout_s=60)
    assert code == 0, producer.lines
    record = json.loads(ledger.read_text())
    assert record["run"]["stopped_by"] == "signal" and record["run"]["signal"] == sig.name
    lines = sum(len(p.read_bytes().splitlines()) for p in tmp_path.glob("events.w*.jsonl"))
    assert lines == record["messages_sent"] == record["delivery"]["delivered"] > 0
    # Progress is one line for all workers, never one per worker.
    progress = [line for line in producer.lines if " sent (" in line]
    assert progress and all("2 workers: " in line for line in progress)
