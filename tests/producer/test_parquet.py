"""`--output parquet:DIR`: typed files by event date that read back with the ledger's counts."""

from __future__ import annotations

import json
import signal
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import contract
from producer.parquet_sink import MALFORMED_SCHEMA, SCHEMA, ParquetSink
from producer.producer import main
from producer.publish import PublishError
from tests.producer.conftest import generate
from tests.producer.proc import Producer


def read(directory: Path) -> pa.Table:
    """The events as a reader sees them: hive partitions, hidden and _ files left out."""
    return ds.dataset(directory, format="parquet", partitioning="hive").to_table()


def assert_agrees_with_ledger(directory: Path, record: dict[str, Any]) -> None:
    events = read(directory)
    malformed = pq.read_table(directory / "_malformed") if record["faults"]["malformed"] else None
    assert not list(directory.rglob(".*")), "a file was left under its hidden name"
    ids = events["event_id"].to_pylist()
    assert len(set(ids)) == record["events"]["total"]
    assert len(ids) == record["events"]["total"] + record["faults"]["duplicates"]
    assert events.num_rows + (malformed.num_rows if malformed else 0) == record["messages_sent"]
    if malformed is not None:
        assert malformed.num_rows == record["faults"]["malformed"]
    unique = {row["event_id"]: row for row in events.to_pylist()}.values()
    by_type = Counter(row["event_type"] for row in unique)
    assert {t: by_type[t] for t in contract.EVENT_TYPES} == {
        t: record["events"][t] for t in contract.EVENT_TYPES
    }
    assert len({row["session_id"] for row in unique}) == record["sessions"]
    assert len({row["order_id"] for row in unique if row["order_id"]}) == record["orders"]
    revenue = sum(row["price"] * row["quantity"] for row in unique if row["order_id"])
    assert str(revenue or Decimal("0.00")) == record["revenue"]


def test_files_by_event_date_read_back_with_the_ledgers_counts(tmp_path: Path) -> None:
    out, ledger = tmp_path / "events", tmp_path / "ledger.json"
    argv = ["--mode", "backfill", "--start", "2025-05-05", "--days", "2", "--rate", "0.1"]
    argv += ["--seed", "3", "--output", f"parquet:{out}", "--ledger", str(ledger)]
    faults = ["--malformed", "0.01", "--duplicates", "0.01", "--late", "0.01"]
    assert main([*argv, *faults, "--progress", "0"]) == 0
    record = json.loads(ledger.read_text())
    assert record["run"]["output"] == f"parquet {out}"
    assert_agrees_with_ledger(out, record)
    events = read(out)
    assert set(events["event_date"].to_pylist()) == {"2025-05-05", "2025-05-06"}
    for row in events.slice(0, 2000).to_pylist():  # the partition is the event's UTC date
        assert row["event_date"] == row["event_time"].astimezone(UTC).date().isoformat()
        at = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
        assert at == row["event_time"]
    files = list(out.glob("event_date=*/*.parquet"))
    assert all(pq.read_schema(f).equals(SCHEMA) for f in files)
    assert pq.read_schema(out / "_malformed" / "part-00000.parquet").equals(MALFORMED_SCHEMA)
    prices = pc.drop_null(events["price"])
    assert prices.type == pa.decimal128(12, 2) and pc.min(prices).as_py() > 0


def test_row_groups_are_whole_and_a_reused_directory_is_refused(tmp_path: Path) -> None:
    sample = generate(5_000)
    sink = ParquetSink(str(tmp_path / "out"), row_group_rows=1_000, open_files=1)
    for start in range(0, len(sample), 333):
        assert sink.send(sample[start : start + 333]) == len(sample[start : start + 333])
    sink.close()
    rows = 0
    for path in sorted((tmp_path / "out").rglob("*.parquet")):
        meta = pq.read_metadata(path)
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert all(n == 1_000 for n in sizes[:-1]) and 0 < sizes[-1] <= 1_000, (path, sizes)
        rows += meta.num_rows
    assert rows == len(sample) == sink.stats.delivered
    with pytest.raises(PublishError, match="already holds Parquet files"):
        ParquetSink(str(tmp_path / "out"))


def test_a_bad_directory_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    argv = ["--mode", "backfill", "--events", "10", "--progress", "0", "--seed", "1"]
    assert main([*argv, "--output", f"parquet:{tmp_path / 'file'}"]) == 1  # as for jsonl
    error = capsys.readouterr().err
    assert "cannot write" in error and "Traceback" not in error
    assert main([*argv, "--output", "parquet:"]) == 2  # a usage error


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_closes_every_file_whole(tmp_path: Path, sig: signal.Signals) -> None:
    out, ledger = tmp_path / "events", tmp_path / "ledger.json"
    argv = ["--mode", "backfill", "--start", "2025-05-05", "--days", "30", "--seed", "4"]
    argv += ["--malformed", "0.01", "--duplicates", "0.01", "--progress", "0.2s"]
    producer = Producer([*argv, "--output", f"parquet:{out}", "--ledger", str(ledger)])
    producer.wait_for(" sent (")  # under way
    producer.signal(sig)
    code, _ = producer.finish(timeout_s=60)
    assert code in (0, 128 + sig), producer.lines
    record = json.loads(ledger.read_text())
    assert record["run"]["stopped_by"] == "signal" and record["messages_sent"] > 0
    assert_agrees_with_ledger(out, record)
