"""The processor end to end: producer -> Kafka -> streaming query -> PostgreSQL -> verify.

Each test runs `python -m processor.streaming_processor` as its own process group (Python and
its Spark JVM) against a fresh topic and schema, and checks the result with processor.verify.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Producer

from infra.env import ROOT
from processor.verify import run_checks
from tests.conftest import Services
from tests.processor.harness import settings_for
from tests.processor.sample_events import dumps, event

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PY = sys.executable


def produce_backfill(
    services: Services, topic: str, ledger: Path, events: int, seed: int, *faults: str
) -> None:
    """Run the real producer in backfill mode into `topic`, writing its ledger."""
    produce(services, topic, ledger, events, seed, "200", *faults)


def produce(
    services: Services, topic: str, ledger: Path, events: int, seed: int, rate: str, *faults: str
) -> None:
    """The producer in backfill mode at `rate` simulated events/s (sets the time span)."""
    cmd = [
        PY, "-m", "producer.producer", "--mode", "backfill", "--events", str(events),
        "--seed", str(seed), "--topic", topic, "--bootstrap-servers", services.bootstrap,
        "--ledger", str(ledger), "--rate", rate, *faults,
    ]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=300)


def send(services: Services, topic: str, messages: list[bytes]) -> None:
    """Send raw messages (garbage included) and wait for every delivery."""
    producer = Producer({"bootstrap.servers": services.bootstrap, "acks": "all"})
    for message in messages:
        producer.produce(topic, message)
    assert producer.flush(30) == 0


def start_processor(
    services: Services, topic: str, schema: str, checkpoint: Path, *args: str, **env: str
) -> subprocess.Popen[str]:
    """Start the processor in its own process group (so SIGKILL takes its JVM too)."""
    environ = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": services.bootstrap,
        "KAFKA_TOPIC": topic,
        "POSTGRES_SCHEMA": schema,
        "PROCESSOR_CHECKPOINT_DIR": str(checkpoint),
        "SPARK_MASTER": "local[2]",
        "SPARK_DRIVER_MEMORY": "1g",
        **env,
    }
    return subprocess.Popen(
        [PY, "-m", "processor.streaming_processor", *args],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 300) -> str:
    """Wait for the processor to exit 0 and return its output."""
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-4000:]
    return out


def scalar(dsn: str, schema: str, query: str) -> int:
    """One number from the test schema."""
    with psycopg.connect(dsn, options=f"-c search_path={schema}") as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll until `condition` holds or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def differences(schema: str, ledger: Path | list[Path] | None = None) -> list[str]:
    """processor.verify's findings for the schema (and the producer ledger)."""
    _, found = run_checks(settings_for(schema).pg_conninfo(), ledger)
    return [str(d) for d in found]


def recount_differences(services: Services, schema: str, topic: str) -> str:
    """`verify --from-topic`: the tables against an independent recount of the topic; the
    output when it finds differences, else ""."""
    result = subprocess.run(
        [PY, "-m", "processor.verify", "--schema", schema, "--from-topic", topic],
        cwd=ROOT,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": services.bootstrap},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return "" if result.returncode == 0 else result.stdout[-3000:] + result.stderr[-2000:]


def test_fixed_seed_backfill_with_faults_verifies_clean(
    services: Services, kafka_topic: str, pg_schema: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.json"
    faults = ("--duplicates", "0.03", "--late", "0.03", "--max-lateness", "20m")
    faults += ("--malformed", "0.01")
    # 30,000 events at 5/s span about 100 simulated minutes: delays of up to 20 minutes make
    # some events late beyond the processor's 10-minute bound, the rest merely out of order.
    produce(services, kafka_topic, ledger, 30_000, 20250819, "5", *faults)
    process = start_processor(
        services,
        kafka_topic,
        pg_schema,
        tmp_path / "ckpt",
        "--available-now",
        PROCESSOR_MAX_OFFSETS_PER_TRIGGER="8000",
        PROCESSOR_MAX_LATENESS="10m",  # some of the producer's late events fall beyond it
    )
    out = finish(process)
    assert "batches committed" in out
    assert differences(pg_schema, ledger) == []
    late = scalar(services.pg_dsn, pg_schema, "SELECT count(*) FROM raw_events WHERE is_late")
    rejected = scalar(services.pg_dsn, pg_schema, "SELECT count(*) FROM rejected_events")
    batches = scalar(services.pg_dsn, pg_schema, "SELECT count(*) FROM pipeline_batches")
    assert late > 0 and rejected > 0 and batches >= 4


def test_two_shards_into_one_topic_verify_with_both_ledgers(
    services: Services, kafka_topic: str, pg_schema: str, tmp_path: Path
) -> None:
    ledgers = [tmp_path / "shard1.json", tmp_path / "shard2.json"]
    for i, ledger in enumerate(ledgers, start=1):
        faults = ("--shard", f"{i}/2", "--duplicates", "0.02", "--malformed", "0.01")
        produce(services, kafka_topic, ledger, 6_000, 7, "20", *faults)
    process = start_processor(
        services, kafka_topic, pg_schema, tmp_path / "ckpt", "--available-now"
    )
    finish(process)
    assert differences(pg_schema, ledgers) == []
    assert any("ledger" in d for d in differences(pg_schema, ledgers[0]))  # one is not all
    argv = [PY, "-m", "processor.verify", "--schema", pg_schema]
    argv += ["--ledger", str(ledgers[0]), "--ledger", str(ledgers[1])]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    twice = [*argv[:5], "--ledger", str(ledgers[1]), "--ledger", str(ledgers[1])]
    result = subprocess.run(twice, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "give each shard's ledger once" in result.stderr


def test_two_workers_into_kafka_verify_with_their_merged_ledger(
    services: Services, kafka_topic: str, pg_schema: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.json"
    faults = ("--workers", "2", "--duplicates", "0.02", "--late", "0.02", "--malformed", "0.01")
    produce(services, kafka_topic, ledger, 8_000, 11, "20", *faults)
    record = json.loads(ledger.read_text())
    assert record["run"]["workers"] == 2 and record["events"]["total"] == 8_000
    finish(start_processor(services, kafka_topic, pg_schema, tmp_path / "ckpt", "--available-now"))
    assert differences(pg_schema, ledger) == []
    assert recount_differences(services, pg_schema, kafka_topic) == ""


def test_sigkill_mid_run_then_restart_counts_nothing_twice(
    services: Services, kafka_topic: str, pg_schema: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.json"
    produce_backfill(services, kafka_topic, ledger, 60_000, 7, "--duplicates", "0.02")
    checkpoint = tmp_path / "ckpt"
    env = {"PROCESSOR_MAX_OFFSETS_PER_TRIGGER": "3000", "PROCESSOR_TRIGGER_SECONDS": "1"}
    committed = (
        f"SELECT count(*) FROM pipeline_batches WHERE input_rows > 0 AND '{kafka_topic}' <> ''"
    )
    for kill_after in (2, 5):  # two kills, each at some point inside a later batch
        process = start_processor(services, kafka_topic, pg_schema, checkpoint, **env)
        try:
            wait_for(
                lambda n=kill_after: scalar(services.pg_dsn, pg_schema, committed) >= n,
                240,
                f"{kill_after} committed batches",
            )
            time.sleep(0.7)  # most likely inside the next batch's Spark job or transaction
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
    finish(start_processor(services, kafka_topic, pg_schema, checkpoint, "--available-now", **env))
    assert differences(pg_schema, ledger) == []
    assert recount_differences(services, pg_schema, kafka_topic) == ""
    batch_ids = scalar(
        services.pg_dsn,
        pg_schema,
        "SELECT count(*) - count(DISTINCT batch_id) FROM pipeline_batches",
    )
    assert batch_ids == 0


def test_garbage_does_not_stop_the_stream_and_sigterm_stops_cleanly(
    services: Services, kafka_topic: str, pg_schema: str, tmp_path: Path
) -> None:
    process = start_processor(
        services, kafka_topic, pg_schema, tmp_path / "ckpt", PROCESSOR_TRIGGER_SECONDS="1"
    )
    try:
        garbage = [b"\x00\xff garbage", b"", b"{", b'{"event_id": []}', b"[]", b"null"]
        valid = [dumps(event()).encode() for _ in range(20)]
        send(services, kafka_topic, garbage + valid[:10])
        wait_for(
            lambda: scalar(services.pg_dsn, pg_schema, "SELECT count(*) FROM raw_events") == 10,
            240,
            "the first valid events",
        )
        send(services, kafka_topic, valid[10:] + garbage)  # the stream is still running
        wait_for(
            lambda: scalar(services.pg_dsn, pg_schema, "SELECT count(*) FROM raw_events") == 20,
            120,
            "the events sent after the garbage",
        )
        assert scalar(services.pg_dsn, pg_schema, "SELECT count(*) FROM rejected_events") == 12
        assert process.poll() is None
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # like `kill PID` or the runner's stop
    out = finish(process, timeout=120)
    assert "stop requested" in out and "batches committed" in out
    assert differences(pg_schema) == []


def drain_in_small_batches(
    services: Services, topic: str, schema: str, tmp_path: Path, seed: int
) -> tuple[subprocess.Popen[str], Path]:
    """A 40,000-event backfill, and the processor draining it in batches of 4,000."""
    ledger = tmp_path / "ledger.json"
    produce_backfill(services, topic, ledger, 40_000, seed)
    process = start_processor(
        services,
        topic,
        schema,
        tmp_path / "ckpt",
        "--available-now",
        PROCESSOR_MAX_OFFSETS_PER_TRIGGER="4000",
    )
    return process, ledger


def test_lost_database_connections_are_retried(
    services: Services, kafka_topic: str, pg_schema: str, tmp_path: Path
) -> None:
    process, ledger = drain_in_small_batches(services, kafka_topic, pg_schema, tmp_path, 11)
    terminate = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE application_name = 'clickstream-processor:{pg_schema}'"
    )
    killed = 0
    with psycopg.connect(services.pg_dsn, autocommit=True) as admin:
        while process.poll() is None and killed < 6:
            time.sleep(1.5)
            row = admin.execute(terminate).fetchone()
            killed += int(row[0]) if row else 0
    out = finish(process)
    assert killed >= 2, "the test never caught the processor connected"
    assert "retrying" in out
    assert differences(pg_schema, ledger) == []


def test_a_postgresql_restart_mid_run_loses_nothing(
    services: Services, kafka_topic: str, pg_schema: str, tmp_path: Path
) -> None:
    from infra.postgres import PostgresNative

    process, ledger = drain_in_small_batches(services, kafka_topic, pg_schema, tmp_path, 12)
    postgres = PostgresNative(services.settings)
    try:
        with psycopg.connect(services.pg_dsn, autocommit=True) as conn:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and process.poll() is None:
                row = conn.execute(f'SELECT count(*) FROM "{pg_schema}".pipeline_batches')
                if row.fetchone()[0] >= 2:  # type: ignore[index]
                    break
                time.sleep(0.3)
        assert process.poll() is None, "the processor finished before the restart"
        postgres.stop()  # a fast shutdown: open transactions are rolled back
        time.sleep(3)  # the processor finds the server gone and backs off
    finally:
        postgres.start()
    out = finish(process)
    assert "retrying" in out
    assert differences(pg_schema, ledger) == []


TABLES = {
    "raw_events": "SELECT event_id, is_late FROM raw_events ORDER BY 1",
    "rejected_events": "SELECT kafka_partition, kafka_offset, reason FROM rejected_events"
    " ORDER BY 1, 2",
    "user_sessions": "SELECT session_id, events, orders, revenue, session_start, session_end"
    " FROM user_sessions ORDER BY 1",
    "hourly_metrics": "SELECT window_start, events, orders, revenue, unique_users,"
    " unique_sessions FROM hourly_metrics ORDER BY 1",
    "product_metrics": "SELECT window_start, product_id, views, units_sold, revenue"
    " FROM product_metrics ORDER BY 1, 2",
}


def tables(dsn: str, schema: str) -> dict[str, list[tuple[object, ...]]]:
    """The analytics tables' contents that must not depend on batch boundaries."""
    with psycopg.connect(dsn, options=f"-c search_path={schema}") as conn:
        return {name: conn.execute(query).fetchall() for name, query in TABLES.items()}


def test_the_same_topic_gives_the_same_tables_in_one_batch_or_in_many(
    services: Services, kafka_topic: str, tmp_path: Path
) -> None:
    from infra.postgres import PostgresNative

    ledger = tmp_path / "ledger.json"
    # 2 events/s over 3 partitions, events up to 20 minutes late, the 10-minute bound: whether
    # an event is late must depend on the topic alone (per partition, in offset order), never
    # on how the partitions' offsets fell into batches.
    faults = ("--late", "0.05", "--max-lateness", "20m", "--malformed", "0.01")
    produce(services, kafka_topic, ledger, 12_000, 20251202, "2", *faults)
    results = []
    for name, per_trigger in (("one", "0"), ("many", "700")):
        schema = f"test_batches_{name}_{kafka_topic.rsplit('.', 1)[-1]}"
        PostgresNative(services.settings).apply_schema(schema=schema)
        try:
            process = start_processor(
                services,
                kafka_topic,
                schema,
                tmp_path / f"ckpt-{name}",
                "--available-now",
                PROCESSOR_MAX_OFFSETS_PER_TRIGGER=per_trigger,
                PROCESSOR_MAX_LATENESS="10m",
            )
            finish(process)
            batches = scalar(services.pg_dsn, schema, "SELECT count(*) FROM pipeline_batches")
            results.append((batches, tables(services.pg_dsn, schema)))
            assert differences(schema, ledger) == []
        finally:
            PostgresNative(services.settings).drop_schema(schema)
    (one_batches, one), (many_batches, many) = results
    assert one_batches == 1 and many_batches >= 10
    late = sum(1 for _, is_late in one["raw_events"] if is_late)
    assert late > 0  # the bound is tighter than the producer's lateness: some are late
    for name in TABLES:
        assert one[name] == many[name], name
