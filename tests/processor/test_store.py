"""A chunk's events go straight into raw_events; another writer storing one of its ids at the
same moment makes the batch redo itself the careful way, and that id is then a duplicate.
"""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.conftest import Services
from tests.processor.harness import Harness
from tests.processor.scenario import eid, scenario

pytestmark = pytest.mark.integration


def test_an_id_stored_by_another_writer_meanwhile_is_a_duplicate(
    spark, pg_schema: str, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    events = scenario()
    h = Harness(spark, pg_schema)
    other = psycopg.connect(make_conninfo(services.pg_dsn, options=f"-c search_path={pg_schema}"))
    try:
        # The other writer holds event 3 uncommitted: the batch's look-up cannot see it, and
        # its copy waits for the other transaction, then fails on the id once that commits.
        other.execute(
            "INSERT INTO raw_events (event_id, event_type, event_time, user_id, session_id,"
            " page_url, device_type, kafka_partition, kafka_offset)"
            " SELECT event_id, event_type, event_time, user_id, session_id, page_url,"
            " device_type, 9, 999 FROM (VALUES (%s::uuid, 'page_view', now(), %s::uuid,"
            " %s::uuid, '/other', 'desktop')) AS v (event_id, event_type, event_time, user_id,"
            " session_id, page_url, device_type)",
            [eid(3), events[2]["user_id"], events[2]["session_id"]],
        )
        committer = threading.Timer(1.5, other.commit)
        committer.start()
        with caplog.at_level("WARNING", logger="processor.sink"):
            h.run(events)
        committer.join()
        assert any("stored meanwhile" in r.getMessage() for r in caplog.records)
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
