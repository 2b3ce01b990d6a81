"""Benchmark the dashboard refresh statement that every micro-batch runs, as raw_events grows.

For each stored size (default 100,000 and 10,000,000 events) a fresh schema is filled in
PostgreSQL itself (generate_series, no Kafka or Spark): events at a steady rate (default 200/s,
the demo's; --rate), 10 to a session, one in 10 a cart line and one in 20 a purchase, their
user_sessions rows, and a pipeline_batches row per 1,000 events. After VACUUM ANALYZE, the
statements of one batch's refresh (db/merge/newest_event_time.sql, refresh_dashboard.sql, with
the settings the sink uses) run --runs times in a rolled-back transaction; the median is printed
with its ratio to the smallest size, which is the baseline measured in the same run.

The KPIs read fixed windows back from the newest event (1 minute, 5 minutes, 1 hour), so the
cost should follow the rate (rows per window), not the stored total.

Usage: python bench/refresh.py [--sizes 100000,10000000] [--rate 200] [--runs 7]
Needs ./start_infrastructure.sh.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.env import load_env  # noqa: E402
from infra.postgres import PostgresNative  # noqa: E402
from infra.settings import InfraSettings  # noqa: E402
from processor.sql import load_sql  # noqa: E402

# Events i = 0..n-1 at t0 + i/rate; the session of i is i / 10, its user i / 40. Purchases carry
# an order of their own. Everything lands in today's partition (processed_at = now()).
FILL_EVENTS = """
INSERT INTO raw_events (event_id, event_type, event_time, user_id, session_id, product_id,
    page_url, device_type, price, quantity, order_id, kafka_partition, kafka_offset,
    kafka_timestamp)
SELECT gen_random_uuid(),
       CASE WHEN i %% 20 = 0 THEN 'purchase' WHEN i %% 10 = 0 THEN 'add_to_cart'
            ELSE 'page_view' END,
       %(t0)s::timestamptz + i * interval '1 second' / %(rate)s,
       md5('u' || i / 40)::uuid, md5('s' || i / 10)::uuid,
       CASE WHEN i %% 10 = 0 THEN md5('p' || i %% 1000)::uuid END,
       '/products', 'desktop',
       CASE WHEN i %% 10 = 0 THEN 19.99 END, CASE WHEN i %% 10 = 0 THEN 1 END,
       CASE WHEN i %% 20 = 0 THEN md5('o' || i)::uuid END,
       i %% 3, i / 3, now()
FROM generate_series(0, %(n)s - 1) AS i
"""
FILL_SESSIONS = """
INSERT INTO user_sessions (session_id, user_id, session_start, session_end, duration_seconds,
    events, page_views, add_to_carts, purchases, orders, revenue, converted, cart_abandoned,
    is_bounce, device_type, first_event_id)
SELECT md5('s' || s)::uuid, md5('u' || s * 10 / 40)::uuid,
       %(t0)s::timestamptz + s * 10 * interval '1 second' / %(rate)s,
       %(t0)s::timestamptz + (s * 10 + 9) * interval '1 second' / %(rate)s,
       9.0 / %(rate)s, 10, 9, 1 - s %% 2, s %% 2, s %% 2, 19.99 * (s %% 2), s %% 2 = 1, false,
       false, 'desktop', gen_random_uuid()
FROM generate_series(0, %(n)s / 10 - 1) AS s
"""
FILL_BATCHES = """
INSERT INTO pipeline_batches (query_name, batch_id, input_rows, valid_rows, rejected_rows,
    duplicate_rows, late_rows, max_event_time, started_at, duration_ms)
SELECT 'bench', b, 1000, 1000, 0, 0, 0,
       %(t0)s::timestamptz + (b * 1000 + 999) * interval '1 second' / %(rate)s, now(), 100
FROM generate_series(0, %(n)s / 1000 - 1) AS b
"""


def fill(conn: psycopg.Connection, n: int, rate: int) -> float:  # type: ignore[type-arg]
    """Fill the schema with n events at `rate`; returns the seconds it took."""
    started = time.monotonic()
    # The newest event a few seconds ago, as in a live run.
    t0 = conn.execute(
        "SELECT now() - %s * interval '1 second' / %s - interval '5 seconds'", [n, rate]
    ).fetchone()[0]  # type: ignore[index]
    params = {"t0": t0, "rate": rate, "n": n}
    conn.execute(load_sql("merge", "keep_partitions"), {"days": 7})
    for statement in (FILL_EVENTS, FILL_SESSIONS, FILL_BATCHES):
        conn.execute(statement, params)  # type: ignore[arg-type]
    conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


def refresh_ms(conn: psycopg.Connection, runs: int) -> list[float]:  # type: ignore[type-arg]
    """One batch's refresh, `runs` times, each in a transaction that is rolled back."""
    times = []
    for _ in range(runs):
        started = time.monotonic()
        with conn.transaction(force_rollback=True):
            t = conn.execute(load_sql("merge", "newest_event_time")).fetchone()[0]  # type: ignore[index]
            conn.execute("SET LOCAL enable_seqscan = off")  # as processor/sink.py does
            conn.execute(
                load_sql("merge", "refresh_dashboard"),
                {"t": t, "max_kafka_timestamp": t, "duration_ms": 100, "input_rows": 1000},
                prepare=False,
            )
        times.append((time.monotonic() - started) * 1000)
    return times


def measure(infra: InfraSettings, n: int, rate: int, runs: int) -> tuple[float, float]:
    """(median refresh ms, fill seconds) at n stored events, in a throwaway schema."""
    native = PostgresNative(infra)
    schema = f"bench_refresh_{uuid.uuid4().hex[:8]}"
    native.apply_schema(schema=schema)
    try:
        with psycopg.connect(native.superuser_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(infra.pg_owner)))
            conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema)))
            # The sink's session settings (processor/sink.py _connect).
            for setting in ("SET TimeZone = 'UTC'", "SET work_mem = '64MB'", "SET jit = off"):
                conn.execute(setting)
            filled = fill(conn, n, rate)
            refresh_ms(conn, 2)  # warm the cache, as a running pipeline has it
            return statistics.median(refresh_ms(conn, runs)), filled
    finally:
        native.drop_schema(schema)


def main(argv: list[str] | None = None) -> int:
    """Print the refresh's median at each size, with the ratio to the first size."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--sizes",
        default="100000,10000000",
        help="stored events, comma-separated (100000,10000000)",
    )
    p.add_argument("--rate", type=int, default=200, help="events/s the stored events came at (200)")
    p.add_argument("--runs", type=int, default=7, help="refreshes timed per size (median; 7)")
    args = p.parse_args(argv)
    try:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")]
    except ValueError:
        p.error(
            f"--sizes {args.sizes!r} must be whole numbers, for example --sizes 100000,10000000"
        )
    if any(s < 1000 for s in sizes) or args.rate < 1 or args.runs < 1:
        p.error("--sizes must be at least 1000 each; --rate and --runs at least 1")
    infra = InfraSettings.from_env(load_env())
    baseline = None
    for n in sizes:
        print(f"filling {n:,} events at {args.rate:,}/s ...", file=sys.stderr, flush=True)
        median, filled = measure(infra, n, args.rate, args.runs)
        baseline = baseline or median
        print(
            f"dashboard refresh at {n:,} stored events ({args.rate:,}/s): median {median:.1f} ms "
            f"({args.runs} runs), {median / baseline:.2f}x the {sizes[0]:,}-event figure "
            f"(filled in {filled:.0f} s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
