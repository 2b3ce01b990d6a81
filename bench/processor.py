"""Benchmark the streaming processor: drain rate of a fixed backfill, and freshness.

Drain: a fresh topic holds a fixed producer backfill (default 2,000,000 events, seed 1, with a
few duplicates, late and malformed events); the processor drains it with --available-now,
maintaining every table. The rate is messages / (last commit - first batch start), from
pipeline_batches; wall time including Spark's start is printed too. Verify runs afterwards.

Freshness: the processor runs as a stream (default trigger) while the producer sends a steady
--rate events/s (default 1,000); once a second the bench sends a probe event with its own
session id and times how long until that session is in user_sessions. hourly_metrics commits
in the same transaction, so the time is the same for both. Prints p50 and p95.

Usage: python bench/processor.py [--events N] [--runs N] [--freshness-seconds S] [--skip-drain]
Needs ./start_infrastructure.sh. Each run uses its own topic, schema and checkpoint.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.env import load_env  # noqa: E402
from infra.postgres import PostgresNative  # noqa: E402
from infra.settings import InfraSettings  # noqa: E402
from processor.verify import run_checks  # noqa: E402

PY = sys.executable


class Fixture:
    """A fresh topic, schema and checkpoint folder, removed afterwards."""

    def __init__(self, infra: InfraSettings, name: str) -> None:
        self.infra = infra
        self.topic = f"bench.{name}.{uuid.uuid4().hex[:8]}"
        self.schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-processor-"))
        self.admin = AdminClient({"bootstrap.servers": infra.kafka_bootstrap})

    def __enter__(self) -> Fixture:
        self.admin.create_topics([NewTopic(self.topic, 3, 1)])[self.topic].result(timeout=30)
        PostgresNative(self.infra).apply_schema(schema=self.schema)
        return self

    def __exit__(self, *exc: object) -> None:
        try:  # cleanup only: a slow topic deletion must not lose the figures
            self.admin.delete_topics([self.topic], operation_timeout=30)[self.topic].result(60)
        except (KafkaException, TimeoutError) as exc:
            print(f"note: topic {self.topic} not deleted: {exc}", file=sys.stderr)
        PostgresNative(self.infra).drop_schema(self.schema)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for the producer and processor subprocesses."""
        return {
            **os.environ,
            "KAFKA_TOPIC": self.topic,
            "POSTGRES_SCHEMA": self.schema,
            "PROCESSOR_CHECKPOINT_DIR": str(self.tmp / "checkpoint"),
            **extra,
        }

    def conninfo(self) -> str:
        """Owner connection with search_path at the bench schema."""
        return make_conninfo(self.infra.pg_dsn(), options=f"-c search_path={self.schema}")


def processor_cmd(*args: str) -> list[str]:
    """The processor's command line."""
    return [PY, "-m", "processor.streaming_processor", *args]


def drain(infra: InfraSettings, events: int) -> tuple[float, float, int, int]:
    """Fill a topic, drain it; return (rate msg/s, wall s incl. start, messages, differences)."""
    with Fixture(infra, "drain") as fx:
        ledger = fx.tmp / "ledger.json"
        faults = ["--duplicates", "0.01", "--late", "0.01", "--malformed", "0.001"]
        subprocess.run(
            [PY, "-m", "producer.producer", "--mode", "backfill", "--events", str(events),
             "--seed", "1", "--topic", fx.topic, "--ledger", str(ledger), *faults],
            cwd=ROOT, env=fx.env(), check=True, capture_output=True,
        )  # fmt: skip
        started = time.monotonic()
        subprocess.run(
            processor_cmd("--available-now"),
            cwd=ROOT,
            env=fx.env(),
            check=True,
            capture_output=True,
        )
        wall = time.monotonic() - started
        with psycopg.connect(fx.conninfo()) as conn:
            row = conn.execute(
                "SELECT sum(input_rows), extract(epoch FROM max(committed_at) - min(started_at))"
                " FROM pipeline_batches"
            ).fetchone()
        messages, seconds = int(row[0]), float(row[1])  # type: ignore[index]
        _, differences = run_checks(fx.conninfo(), ledger)
        return messages / seconds, wall, messages, len(differences)


def freshness(infra: InfraSettings, rate: int, seconds: int) -> list[float]:
    """Seconds from produce to visible in user_sessions, for one probe per second."""
    with Fixture(infra, "fresh") as fx:
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        processor = subprocess.Popen(processor_cmd(), cwd=ROOT, env=fx.env(), **quiet)
        load = subprocess.Popen(
            # The warm-up hour is simulated, not sent: sent, it is a backlog of rate x 3,600
            # events ahead of the probes, and freshness would time the catch-up instead.
            [PY, "-m", "producer.producer", "--mode", "realtime", "--rate", str(rate), "--flat",
             "--warm-up-mode", "simulate",
             "--duration", f"{seconds + 120}s", "--topic", fx.topic, "--seed", "2",
             "--ledger", str(fx.tmp / "ledger.json")],
            cwd=ROOT, env=fx.env(), **quiet,
        )  # fmt: skip
        try:
            with psycopg.connect(fx.conninfo(), autocommit=True) as conn:
                deadline = time.monotonic() + 180
                while not conn.execute("SELECT count(*) FROM pipeline_batches").fetchone()[0]:  # type: ignore[index]
                    if time.monotonic() > deadline:
                        raise RuntimeError("the processor committed nothing within 180 s")
                    time.sleep(0.5)
                return probe(fx, conn, seconds)
        finally:
            load.terminate()
            processor.terminate()
            load.wait(60)
            processor.wait(120)


def probe(fx: Fixture, conn: psycopg.Connection, seconds: int) -> list[float]:  # type: ignore[type-arg]
    """Send one probe a second for `seconds`; poll until each is visible; return latencies."""
    from datetime import UTC, datetime

    from tests.processor.sample_events import dumps, event

    producer = Producer({"bootstrap.servers": fx.infra.kafka_bootstrap, "linger.ms": 0})
    pending: dict[str, float] = {}
    latencies: list[float] = []
    next_send = time.monotonic()
    end = next_send + seconds
    while time.monotonic() < end or pending:
        now = time.monotonic()
        if now >= next_send and now < end:
            session = str(uuid.uuid4())
            e = event(t=datetime.now(UTC), session_id=session)
            producer.produce(fx.topic, dumps(e).encode(), key=session.encode())
            producer.flush(5)
            pending[session] = time.monotonic()
            next_send += 1.0
        if pending:
            rows = conn.execute(
                "SELECT session_id::text FROM user_sessions WHERE session_id = ANY(%s::uuid[])",
                [list(pending)],
            ).fetchall()
            seen = time.monotonic()
            for (session,) in rows:
                latencies.append(seen - pending.pop(session))
        if time.monotonic() > end + 120:
            raise RuntimeError(f"{len(pending)} probes never became visible")
        time.sleep(0.05)
    return latencies


def main(argv: list[str] | None = None) -> int:
    """Run the drain and freshness benchmarks and print one line of figures each."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=2_000_000, help="backfill size (default 2M)")
    p.add_argument("--runs", type=int, default=1, help="drain runs (median reported)")
    p.add_argument("--rate", type=int, default=1000, help="events/s for freshness")
    p.add_argument("--freshness-seconds", type=int, default=60, help="probe duration")
    p.add_argument("--skip-drain", action="store_true")
    p.add_argument("--skip-freshness", action="store_true")
    args = p.parse_args(argv)
    infra = InfraSettings.from_env(load_env())
    if not args.skip_drain:
        runs = [drain(infra, args.events) for _ in range(args.runs)]
        rates = [r[0] for r in runs]
        each = ", ".join(f"{r:,.0f}" for r in rates)
        print(
            f"processor drain: {runs[0][2]:,} messages, {args.runs} run(s): median "
            f"{statistics.median(rates):,.0f} msg/s (runs: {each}); "
            f"wall incl. Spark start {statistics.median(r[1] for r in runs):.1f} s; "
            f"verify differences {sum(r[3] for r in runs)}"
        )
    if not args.skip_freshness:
        lat = sorted(freshness(infra, args.rate, args.freshness_seconds))
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        print(
            f"processor freshness at {args.rate:,} events/s: p50 {statistics.median(lat):.2f} s, "
            f"p95 {p95:.2f} s, max {lat[-1]:.2f} s ({len(lat)} probes)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
