"""Benchmark the store's size: bytes per stored event, and the disk a day takes at a rate.

A fresh topic gets a producer backfill (default 500,000 events, seed 1, the default faults of
bench/processor.py); the processor drains it with --available-now into a fresh schema. Then
PostgreSQL's own sizes (pg_total_relation_size: heap, TOAST and indexes, after VACUUM ANALYZE)
are divided by the stored rows. The day figure is bytes per event x rate x 86,400, for raw_events
and for the whole schema (the aggregates grow with sessions and hours, not only events).

Usage: python bench/storage.py [--events N] [--rate R]    Needs ./start_infrastructure.sh.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.env import load_env  # noqa: E402
from infra.postgres import PostgresNative  # noqa: E402
from infra.settings import InfraSettings  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_processor", ROOT / "bench" / "processor.py")
assert _spec is not None and _spec.loader is not None
_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench)
Fixture, PY = _bench.Fixture, _bench.PY

# Partitioned tables (raw_events, rejected_events) as the sum of their partitions.
SIZES = """
SELECT c.relname, CASE c.relkind WHEN 'p' THEN
    (SELECT sum(pg_total_relation_size(t.relid)) FROM pg_partition_tree(c.oid) AS t)
    ELSE pg_total_relation_size(c.oid) END
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY 2 DESC
"""


def measure(infra: InfraSettings, events: int) -> tuple[int, dict[str, tuple[int, int]]]:
    """Fill and drain; return (valid events stored, {table: (rows, bytes)})."""
    with Fixture(infra, "storage") as fx:
        faults = ["--duplicates", "0.01", "--late", "0.01", "--malformed", "0.001"]
        subprocess.run(
            [PY, "-m", "producer.producer", "--mode", "backfill", "--events", str(events),
             "--seed", "1", "--topic", fx.topic, "--ledger", str(fx.tmp / "ledger.json"),
             *faults],
            cwd=ROOT, env=fx.env(), check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [PY, "-m", "processor.streaming_processor", "--available-now"],
            cwd=ROOT, env=fx.env(), check=True, capture_output=True,
        )  # fmt: skip
        # VACUUM needs the tables' owner: the cluster's superuser, over its socket.
        conninfo = PostgresNative(infra).superuser_conninfo(options=f"-c search_path={fx.schema}")
        superuser = psycopg.connect(conninfo, autocommit=True)
        with superuser as conn:
            conn.execute("VACUUM ANALYZE")
            tables: dict[str, tuple[int, int]] = {}
            for name, size in conn.execute(SIZES).fetchall():
                count = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))
                )
                row = count.fetchone()
                tables[name] = (int(row[0]) if row else 0, int(size))
        return tables["raw_events"][0], tables


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=500_000, help="backfill size (default 500,000)")
    ap.add_argument("--rate", type=float, default=200.0, help="events/s for the day figure (200)")
    ap.add_argument(
        "--retention-days", type=int, default=7, help="PROCESSOR_RAW_RETENTION in days (7)"
    )
    args = ap.parse_args(argv)
    if args.events < 1000 or not 0 < args.rate < 1e7:
        ap.error("--events must be at least 1000 and --rate between 0 and 10,000,000")
    stored, tables = measure(InfraSettings.from_env(load_env()), args.events)
    per_day = args.rate * 86_400
    total = sum(size for _, size in tables.values())
    for name, (rows, size) in tables.items():
        print(f"{name:<18} {rows:>10,} rows {size / 1e6:>9.1f} MB  {size / stored:>7.1f} B/event")
    raw = tables["raw_events"][1] / stored
    print(
        f"storage: {stored:,} events stored; raw_events {raw:.0f} B/event "
        f"({raw * per_day / 1e9:.1f} GB/day at {args.rate:g} events/s); whole schema "
        f"{total / stored:.0f} B/event ({total / stored * per_day / 1e9:.1f} GB/day)"
    )
    # Retention keeps whole days: up to retention + 1 of them (today's is filling).
    kept = args.retention_days + 1
    print(
        f"storage: with PROCESSOR_RAW_RETENTION={args.retention_days}d raw_events stays under "
        f"{raw * per_day * kept / 1e9:.1f} GB at {args.rate:g} events/s ({kept} days of "
        "partitions at most); the aggregates keep growing, by sessions and hours"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
