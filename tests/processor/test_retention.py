"""Retention: raw_events and rejected_events are partitioned by the day they were stored, and a
day older than PROCESSOR_RAW_RETENTION is dropped whole, while the aggregates keep their
history and verify still checks everything it can.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from infra.postgres import PostgresNative
from processor import verify
from processor.chunks import SinkRules
from processor.verify import retention, run_checks
from tests.conftest import Services
from tests.processor.harness import Harness
from tests.processor.sample_events import T0, simulate
from tests.processor.scenario import scenario

pytestmark = pytest.mark.integration

AGGREGATES = {
    "hourly_metrics": "window_start",
    "product_metrics": "window_start, product_id",
    "user_sessions": "session_id",
}


def superuser(services: Services, schema: str) -> psycopg.Connection[Any]:
    """The cluster's superuser in `schema`, as the tables' owner (the setup role): it may make,
    fill and move partitions, as the tests need."""
    conninfo = PostgresNative(services.settings).superuser_conninfo()
    conn = psycopg.connect(conninfo, autocommit=True, options=f"-c search_path={schema}")
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(services.settings.pg_owner)))
    return conn


def partitions(conn: psycopg.Connection[Any], parent: str) -> list[str]:
    """The partitions of a table, by name."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass ORDER BY 1",
        [parent],
    ).fetchall()
    return [r[0] for r in rows]


def store_days_ago(conn: psycopg.Connection[Any], days: int) -> None:
    """Move every stored row to a partition of `days` days ago, as if stored then."""
    for parent, column in (("raw_events", "processed_at"), ("rejected_events", "rejected_at")):
        conn.execute(
            f"CREATE TABLE {parent}_old PARTITION OF {parent} FOR VALUES FROM "
            f"(date_trunc('day', now(), 'UTC') - interval '{days} days') TO "
            f"(date_trunc('day', now(), 'UTC') - interval '{days - 1} days')"
        )
        conn.execute(f"UPDATE {parent} SET {column} = {column} - interval '{days} days'")


def test_old_days_are_dropped_whole_and_the_aggregates_stay(
    spark, pg_schema: str, services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = Harness(spark, pg_schema, lateness_seconds=86_400)
    try:
        with superuser(services, pg_schema) as su:
            assert len(partitions(su, "raw_events")) == 2  # today's and tomorrow's, from init.sql
            h.run([*scenario(), "not json"])
            store_days_ago(su, 10)
            # Hours before the dropped ones (a lateness bound of a day keeps them on time).
            later = simulate(20, seed=3, start=T0 - timedelta(hours=6))
            h.run(later)
            before = {t: h.table(t, key) for t, key in AGGREGATES.items()}

            h.sink._rules = SinkRules(retention_days=0)  # off: nothing goes
            assert h.sink.keep_partitions(force=True) == 0
            assert "raw_events_old" in partitions(su, "raw_events")

            h.sink._rules = SinkRules(retention_days=11)  # the old day is within 11 days
            assert h.sink.keep_partitions(force=True) == 0

            h.sink._rules = SinkRules(retention_days=7)
            assert h.sink.keep_partitions(force=True) == 2  # raw_events' and rejected_events'
            assert "raw_events_old" not in partitions(su, "raw_events")
            assert "rejected_events_old" not in partitions(su, "rejected_events")

            stored = su.execute("SELECT count(*) FROM raw_events").fetchone()
            assert stored == (len(later),)
            assert su.execute("SELECT count(*) FROM rejected_events").fetchone() == (0,)
            assert {t: h.table(t, key) for t, key in AGGREGATES.items()} == before
            log = h.rows(
                "SELECT table_name, rows, late_rows, page_views, add_to_carts, purchases, "
                "revenue, last_offsets FROM retention_log ORDER BY table_name"
            )
            assert [(r["table_name"], r["rows"]) for r in log] == [
                ("raw_events", 8),
                ("rejected_events", 1),
            ]
            assert (log[0]["page_views"], log[0]["add_to_carts"], log[0]["purchases"]) == (4, 2, 2)
            assert str(log[0]["revenue"]) == "25.50"  # order O1: 10.00 x 2 + 5.50 x 1
            assert log[0]["last_offsets"] == {":0": 7} and log[1]["last_offsets"] == {":0": 8}

            # verify checks what is still stored, counts the dropped rows from the log, and
            # still finds a difference where raw events remain.
            assert h.differences() == []
            dropped = retention(h.settings.pg_conninfo())
            assert dropped is not None and (dropped.events, dropped.rejected) == (8, 1)
            assert verify.main(["--schema", pg_schema]) == 0
            said = capsys.readouterr().out
            assert "retention (PROCESSOR_RAW_RETENTION) dropped 2 partition(s)" in said
            assert "0 differences" in said
            # A recount from the messages would miss what was dropped: refused, saying why.
            jsonl = tmp_path / "events.jsonl"
            jsonl.write_text("")
            assert verify.main(["--schema", pg_schema, "--from-jsonl", str(jsonl)]) == 2
            assert "retention dropped 8 raw events" in capsys.readouterr().err
            su.execute(
                "UPDATE hourly_metrics SET events = events + 1 WHERE window_start = "
                "(SELECT min(window_start) FROM hourly_metrics)"  # an hour of the later events
            )
            _, found = run_checks(h.settings.pg_conninfo(), checks=["hourly_metrics"])
            assert len(found) == 1
    finally:
        h.close()


def test_an_older_unpartitioned_schema_keeps_its_rows(pg_schema: str, services: Services) -> None:
    # A schema made before partitioning: plain tables, the event id as primary key.
    with superuser(services, pg_schema) as su:
        su.execute("DROP TABLE raw_events, rejected_events CASCADE")
        su.execute(
            "CREATE TABLE raw_events (event_id uuid PRIMARY KEY, event_type text NOT NULL CHECK"
            " (event_type IN ('page_view', 'add_to_cart', 'purchase')), event_time timestamptz"
            " NOT NULL, user_id uuid NOT NULL, session_id uuid NOT NULL, product_id uuid,"
            " page_url text NOT NULL, user_agent text, ip_address inet, device_type text NOT"
            " NULL CHECK (device_type IN ('desktop', 'mobile', 'tablet')), price numeric(12, 2),"
            " quantity integer, order_id uuid, category text, referrer text, country text,"
            " is_late boolean NOT NULL DEFAULT false, kafka_partition integer NOT NULL,"
            " kafka_offset bigint NOT NULL, kafka_timestamp timestamptz, processed_at"
            " timestamptz NOT NULL DEFAULT now())"
        )
        su.execute("CREATE INDEX raw_events_session_idx ON raw_events (session_id)")
        su.execute(
            "CREATE TABLE rejected_events (id bigserial PRIMARY KEY, raw_payload text,"
            " kafka_topic text, kafka_partition integer, kafka_offset bigint, kafka_timestamp"
            " timestamptz, reason text NOT NULL, rejected_at timestamptz NOT NULL DEFAULT now())"
        )
        su.execute(
            "INSERT INTO raw_events (event_id, event_type, event_time, user_id, session_id,"
            " page_url, device_type, kafka_partition, kafka_offset, processed_at)"
            " SELECT gen_random_uuid(), 'page_view', now(), gen_random_uuid(),"
            " gen_random_uuid(), '/', 'mobile', 0, g, now() - interval '3 days'"
            " FROM generate_series(1, 50) AS g"
        )
        su.execute(
            "INSERT INTO rejected_events (reason, kafka_topic, kafka_partition, kafka_offset,"
            " rejected_at) SELECT 'bad_json', 't', 0, g, now() - interval '2 days'"
            " FROM generate_series(1, 5) AS g"
        )
    PostgresNative(services.settings).apply_schema(schema=pg_schema)
    PostgresNative(services.settings).apply_schema(schema=pg_schema)  # again: a no-op
    with superuser(services, pg_schema) as su:
        assert "raw_events_unpartitioned" in partitions(su, "raw_events")
        assert "rejected_events_unpartitioned" in partitions(su, "rejected_events")
        assert su.execute("SELECT count(*) FROM raw_events").fetchone() == (50,)
        su.execute("INSERT INTO rejected_events (reason) VALUES ('bad_json')")
        ids = su.execute("SELECT count(*), count(DISTINCT id) FROM rejected_events").fetchone()
        assert ids == (6, 6)  # new ids go on after the old ones
        assert su.execute("SELECT keep_partitions(1)").fetchone() == (2,)
        assert su.execute("SELECT count(*) FROM raw_events").fetchone() == (0,)


def test_a_days_partition_refuses_a_second_copy_of_an_id(
    pg_schema: str, services: Services
) -> None:
    # Within a day the event id is a unique key (across days, the writer lock keeps it one).
    insert = (
        "INSERT INTO raw_events (event_id, event_type, event_time, user_id, session_id,"
        " page_url, device_type, kafka_partition, kafka_offset) VALUES"
        " ('00000000-0000-4000-8000-000000000001', 'page_view', now(), gen_random_uuid(),"
        " gen_random_uuid(), '/', 'mobile', 0, %s)"
    )
    with superuser(services, pg_schema) as su:
        su.execute(insert, [1])
        with pytest.raises(psycopg.errors.UniqueViolation):
            su.execute(insert, [2])
        position = (
            "INSERT INTO rejected_events (reason, kafka_topic, kafka_partition, kafka_offset)"
        )
        su.execute(position + " VALUES ('bad_json', 't', 0, 5)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            su.execute(position + " VALUES ('bad_json', 't', 0, 5)")
