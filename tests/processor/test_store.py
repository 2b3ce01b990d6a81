"""A chunk's events go straight into raw_events under the schema's writer lock: another writer
(a second processor on the same schema) storing one of its ids at the same moment makes the
batch wait for it, and that id is then a duplicate, never a second row.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from processor.sql import load_sql
from tests.conftest import Services
from tests.processor.harness import Harness
from tests.processor.scenario import eid, scenario

pytestmark = pytest.mark.integration


def test_an_id_stored_by_another_writer_meanwhile_is_a_duplicate(
    spark, pg_schema: str, services: Services
) -> None:
    events = scenario()
    h = Harness(spark, pg_schema)
    other = psycopg.connect(make_conninfo(services.pg_dsn, options=f"-c search_path={pg_schema}"))
    try:
        # The other writer takes the writer lock as a batch does and holds event 3
        # uncommitted: the batch waits for the lock, then finds the id stored.
        other.execute(load_sql("merge", "writer_lock"))
        other.execute(
            "INSERT INTO raw_events (event_id, event_type, event_time, user_id, session_id,"
            " page_url, device_type, kafka_partition, kafka_offset)"
            " SELECT event_id, event_type, event_time, user_id, session_id, page_url,"
            " device_type, 9, 999 FROM (VALUES (%s::uuid, 'page_view', now(), %s::uuid,"
            " %s::uuid, '/other', 'desktop')) AS v (event_id, event_type, event_time, user_id,"
            " session_id, page_url, device_type)",
            [eid(3), events[2]["user_id"], events[2]["session_id"]],
        )
        committed_at: list[float] = []

        def commit() -> None:
            committed_at.append(time.monotonic())
            other.commit()

        committer = threading.Timer(1.5, commit)
        committer.start()
        h.run(events)
        finished = time.monotonic()
        committer.join()
        assert committed_at and finished > committed_at[0]  # the batch waited for the lock
        (batch,) = h.table("pipeline_batches", "batch_id")
        assert (batch["input_rows"], batch["duplicate_rows"]) == (8, 1)
        stored = h.rows(
            "SELECT kafka_offset, page_url FROM raw_events WHERE event_id = %s", [eid(3)]
        )
        assert stored == [{"kafka_offset": 999, "page_url": "/other"}]  # the other writer's copy
        assert h.rows("SELECT count(*) AS n FROM raw_events")[0]["n"] == 8
        (session,) = h.rows(
            "SELECT events FROM user_sessions WHERE session_id = %s", [events[2]["session_id"]]
        )
        assert session["events"] == 4  # five events in session A, one of them not this batch's
    finally:
        other.close()
        h.close()


def test_writers_of_two_schemas_do_not_wait_for_each_other(
    pg_schema: str, services: Services
) -> None:
    # The lock is per schema: holding one schema's does not hold another's.
    dsn = services.pg_dsn
    with (
        psycopg.connect(make_conninfo(dsn, options=f"-c search_path={pg_schema}")) as a,
        psycopg.connect(make_conninfo(dsn, options="-c search_path=public")) as b,
    ):
        a.execute(load_sql("merge", "writer_lock"))
        b.execute("SET lock_timeout = '1s'")
        b.execute(load_sql("merge", "writer_lock"))  # returns at once
        a.rollback()
        b.rollback()
