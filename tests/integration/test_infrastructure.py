"""The foundation against the real services: Kafka round trip, schema, Spark -> JDBC, restarts."""

from __future__ import annotations

import re
import subprocess
import uuid

import psycopg
import pytest
from confluent_kafka import Consumer, Producer

from infra.env import ROOT
from tests.conftest import Services

pytestmark = pytest.mark.integration

# docs/design.md §4: every table and the columns it names (extra columns are allowed).
DESIGN_COLUMNS: dict[str, set[str]] = {
    "raw_events": {
        "event_id", "event_type", "event_time", "user_id", "session_id", "product_id",
        "page_url", "user_agent", "ip_address", "device_type", "price", "quantity", "order_id",
        "experiment", "variant", "kafka_partition", "kafka_offset", "kafka_timestamp",
        "processed_at",
    },
    "user_sessions": {
        "session_id", "user_id", "session_start", "session_end", "duration_seconds",
        "page_views", "add_to_carts", "purchases", "orders", "revenue", "converted",
        "cart_abandoned", "is_bounce", "device_type", "experiment", "variant", "is_bot",
    },
    # docs/design.md §4: the ab-test scenario's results, and the view the dashboards read.
    "experiment_metrics": {
        "experiment", "variant", "window_start", "sessions", "converted_sessions", "orders",
        "revenue", "bot_sessions",
    },
    "experiment_results": {
        "experiment", "variant", "sessions", "converted_sessions", "conversion_rate", "lift",
        "lift_ci_low", "lift_ci_high",
    },
    "product_metrics": {
        "window_start", "product_id", "views", "add_to_carts", "purchases", "units_sold",
        "revenue",
    },
    "hourly_metrics": {
        "window_start", "events", "page_views", "add_to_carts", "purchases", "orders", "revenue",
        "unique_users", "unique_sessions", "conversion_rate", "avg_order_value",
    },
    "dashboard_metrics": {"metric_name", "metric_value", "updated_at"},
    "rejected_events": {
        "raw_payload", "payload_bytes", "payload_sha256", "kafka_partition", "kafka_offset",
        "kafka_timestamp", "reason", "rejected_at",
    },
    "pipeline_batches": {
        "batch_id", "query_name", "input_rows", "valid_rows", "rejected_rows", "duplicate_rows",
        "late_rows", "max_event_time", "started_at", "committed_at", "duration_ms",
        "end_offsets",
    },
    # docs/design.md §5: data the processor could not read is detected and recorded.
    "data_gaps": {
        "kafka_topic", "kafka_partition", "first_missing", "next_seen", "kind", "detected_at",
    },
}  # fmt: skip
# The processor's exact distinct sets and its per-partition lateness state (db/init.sql
# documents them); not read by dashboards.
INTERNAL_TABLES = {
    "hourly_users", "hourly_sessions", "hourly_orders", "session_orders", "partition_progress",
    "retention_log",
}  # fmt: skip
# raw_events and rejected_events are partitioned by day: raw_events_20261203, ...
DAY_PARTITION = re.compile(r"(raw_events|rejected_events)_[0-9]{8}")
TYPES = {
    ("raw_events", "event_time"): "timestamp with time zone",
    ("raw_events", "ip_address"): "inet",
    ("raw_events", "price"): "numeric",
    ("raw_events", "event_id"): "uuid",
}


def test_message_round_trip_through_kafka(services: Services, kafka_topic: str) -> None:
    key, value = b"session-1", f'{{"probe": "{uuid.uuid4()}"}}'.encode()
    producer = Producer({"bootstrap.servers": services.bootstrap, "acks": "all"})
    producer.produce(kafka_topic, value=value, key=key)
    assert producer.flush(30) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": services.bootstrap,
            "group.id": f"probe-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([kafka_topic])
    try:
        got = None
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                got = msg
                break
        assert got is not None, "the message never came back"
        assert (got.key(), got.value()) == (key, value)
    finally:
        consumer.close()


def test_init_sql_creates_the_design_tables(services: Services) -> None:
    schema = services.settings.pg_schema
    with psycopg.connect(services.pg_dsn) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s",
            (schema,),
        ).fetchall()
    columns: dict[str, set[str]] = {}
    for table, column, _ in rows:
        columns.setdefault(table, set()).add(column)
    partitions = {t for t in columns if DAY_PARTITION.fullmatch(t)}
    assert {"raw_events", "rejected_events"} <= {t.rsplit("_", 1)[0] for t in partitions}
    assert set(columns) - partitions == set(DESIGN_COLUMNS) | INTERNAL_TABLES
    for table, expected in DESIGN_COLUMNS.items():
        assert expected <= columns[table], f"{table} lacks {expected - columns[table]}"
    types = {(t, c): d for t, c, d in rows}
    for key, data_type in TYPES.items():
        assert types[key] == data_type


def test_readonly_role_reads_but_cannot_write(services: Services) -> None:
    with psycopg.connect(services.pg_readonly_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pipeline_batches").fetchone() is not None
        with pytest.raises(psycopg.errors.DatabaseError):
            conn.execute(
                "INSERT INTO dashboard_metrics (metric_name, metric_value) VALUES ('x', 1)"
            )
        # Even outside a read-only transaction it holds no write privilege.
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM raw_events")


@pytest.mark.slow
def test_spark_reads_kafka_and_writes_postgres(
    services: Services, kafka_topic: str, pg_schema: str, spark
) -> None:
    producer = Producer({"bootstrap.servers": services.bootstrap})
    for i in range(5):
        producer.produce(kafka_topic, value=f"payload-{i}".encode(), key=b"k")
    assert producer.flush(30) == 0
    frame = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", services.bootstrap)
        .option("subscribe", kafka_topic)
        .option("startingOffsets", "earliest")
        .load()
        .selectExpr(
            "'probe' AS metric_name",
            "CAST(count(*) AS DOUBLE) AS metric_value",
            "current_timestamp() AS updated_at",
        )
    )
    s = services.settings
    (
        frame.write.format("jdbc")
        .option("url", f"jdbc:postgresql://{s.pg_host}:{s.pg_port}/{s.pg_db}")
        .option("dbtable", f"{pg_schema}.dashboard_metrics")
        .option("user", s.pg_user)
        .option("password", s.pg_password)
        .option("driver", "org.postgresql.Driver")
        .mode("append")
        .save()
    )
    with psycopg.connect(services.pg_dsn) as conn:
        value = conn.execute(
            f'SELECT metric_value FROM "{pg_schema}".dashboard_metrics WHERE metric_name = %s',
            ("probe",),
        ).fetchone()
    assert value == (5.0,)


def run_script(*args: str) -> str:
    result = subprocess.run(
        [str(ROOT / args[0]), *args[1:]], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_second_start_is_a_no_op(services: Services) -> None:
    out = run_script("start_infrastructure.sh", "--native")
    assert "already running" in out
    assert "started on" not in out and "fetched" not in out and "created" not in out


@pytest.mark.slow
def test_stop_then_start_keeps_postgres_data(services: Services, pg_schema: str) -> None:
    marker = str(uuid.uuid4())
    with psycopg.connect(services.pg_dsn) as conn:
        conn.execute(
            f'INSERT INTO "{pg_schema}".dashboard_metrics (metric_name, metric_value) '
            "VALUES (%s, 42)",
            (marker,),
        )
    out = run_script("stop_infrastructure.sh")
    assert "PostgreSQL: stopped" in out and "Kafka: stopped" in out
    status = subprocess.run(
        [str(ROOT / ".local/venv/bin/python"), "-m", "infra", "status"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert status.returncode == 1 and "postgresql  down" in status.stdout
    out = run_script("start_infrastructure.sh", "--native")
    assert "started on" in out
    with psycopg.connect(services.pg_dsn) as conn:
        row = conn.execute(
            f'SELECT metric_value FROM "{pg_schema}".dashboard_metrics WHERE metric_name = %s',
            (marker,),
        ).fetchone()
    assert row == (42.0,)
