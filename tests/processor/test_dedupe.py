"""dedupe_events and mark_late: each event_id once, the earliest Kafka position wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from processor.dedupe import dedupe_events, late_threshold, mark_late
from processor.parse import parse_messages, valid_events
from tests.processor.conftest import kafka_frame
from tests.processor.scenario import eid, scenario

pytestmark = pytest.mark.integration  # needs the Spark session (jars from start_infrastructure)


def test_duplicates_collapse_to_the_earliest_position(spark) -> None:
    events = scenario()
    changed = {**events[0], "page_url": "/changed"}  # same id, later offset, other content
    messages = [*events, events[0], changed, events[3]]
    deduped = dedupe_events(valid_events(parse_messages(kafka_frame(spark, messages))))
    rows = {r.event_id: r for r in deduped.collect()}
    assert len(rows) == len(events)
    assert rows[eid(1)].copies == 3 and rows[eid(4)].copies == 2 and rows[eid(2)].copies == 1
    assert rows[eid(1)].page_url == events[0]["page_url"]
    assert (rows[eid(1)].kafka_partition, rows[eid(1)].kafka_offset) == (0, 0)


def test_late_threshold_and_flag(spark) -> None:
    newest = datetime(2025, 8, 19, 16, 0, tzinfo=UTC)
    threshold = late_threshold(newest, timedelta(hours=1))
    assert threshold == datetime(2025, 8, 19, 15, 0, tzinfo=UTC)
    assert late_threshold(None, timedelta(hours=1)) is None
    events = valid_events(parse_messages(kafka_frame(spark, scenario())))
    late = {r.event_id for r in mark_late(events, threshold).where("is_late").collect()}
    assert late == {eid(n) for n in (1, 2, 3, 4, 6)}  # everything before 15:00
    assert mark_late(events, None).where("is_late").count() == 0
