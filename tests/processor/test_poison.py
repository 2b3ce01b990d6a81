"""Hostile messages through the real foreachBatch handler (Spark + PostgreSQL, no Kafka): each
ends in rejected_events or in the tables, the batch commits, and the next batch goes on."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from processor.chunks import DataLoss, SinkRules
from tests.processor.harness import Harness
from tests.processor.sample_events import T0, dumps, event

pytestmark = pytest.mark.integration

PRODUCT = "00000000-0000-4000-8000-0000000000b1"


@pytest.fixture
def harness(spark, pg_schema):
    h = Harness(spark, pg_schema)
    yield h
    h.close()


def test_lines_that_would_overflow_an_aggregate_are_summed_exactly(harness: Harness) -> None:
    order = str(uuid.uuid4())
    lines = [
        event("purchase", product_id=PRODUCT, price=1_000_000.0, quantity=10_000, order_id=order)
        for _ in range(100)
    ]
    harness.run(lines)
    harness.run([event()])  # the stream goes on
    session = harness.table("user_sessions", "session_id", "revenue, purchases, orders")
    assert session == [{"revenue": Decimal("1000000000000.00"), "purchases": 100, "orders": 1}]
    hour = harness.table("hourly_metrics", "window_start", "revenue, avg_order_value")
    assert hour == [{"revenue": Decimal("1000000000000.00"), "avg_order_value": Decimal("1e12")}]
    units = harness.table("product_metrics", "window_start", "units_sold")
    assert units == [{"units_sold": 1_000_000}]
    assert harness.differences() == []


@pytest.mark.parametrize(
    "timestamp", ["+10000-01-01T00:00:00Z", "-5000-01-01T00:00:00Z", "9999-12-31T22:00:00Z"]
)
def test_timestamps_python_or_postgresql_cannot_hold_are_rejected(
    harness: Harness, timestamp: str
) -> None:
    harness.run([{**event(), "timestamp": timestamp}, event(t=T0)])
    harness.run([event(t=T0)])
    rejected = harness.table("rejected_events", "kafka_offset", "kafka_offset, reason")
    assert [r["kafka_offset"] for r in rejected] == [0]
    assert rejected[0]["reason"] in ("bad_type:timestamp", "timestamp_in_future")
    assert len(harness.table("raw_events", "event_id", "is_late")) == 2
    assert harness.differences() == []


def test_a_far_future_event_cannot_make_later_events_late(harness: Harness) -> None:
    future = {**event(), "timestamp": "9999-12-31T22:00:00Z"}
    harness.run([future, event(t=T0)])
    harness.run([event(t=T0)])
    late = harness.rows("SELECT count(*) AS n FROM raw_events WHERE is_late")
    assert late == [{"n": 0}]
    assert harness.table("hourly_metrics", "window_start", "events") == [{"events": 2}]


def test_oversized_messages_are_stored_as_prefix_size_and_hash(harness: Harness) -> None:
    big = dumps({**event(), "referrer": "x" * 3_000_000})
    harness.run([big] * 5 + [event()])
    rejected = harness.table(
        "rejected_events", "kafka_offset", "reason, length(raw_payload) AS kept, payload_bytes"
    )
    assert (
        rejected == [{"reason": "oversized_message", "kept": 4096, "payload_bytes": len(big)}] * 5
    )
    assert len(harness.table("raw_events", "event_id", "event_id")) == 1


def test_a_gap_in_the_offsets_stops_the_batch_by_default(harness: Harness) -> None:
    harness.run([event(), event()], first_offset=0)
    with pytest.raises(DataLoss, match=r"2 messages .*partition 0 offsets 2\.\.3"):
        harness.run([event()], first_offset=4)  # offsets 2 and 3 aged out before they were read
    assert harness.table("pipeline_batches", "batch_id", "batch_id") == [{"batch_id": 0}]


def test_a_gap_is_recorded_and_skipped_with_continue(spark, pg_schema) -> None:
    h = Harness(spark, pg_schema)
    h.sink._rules = SinkRules(on_data_loss="continue")
    try:
        h.run([event(), event()], first_offset=0)
        h.run([event()], first_offset=4)
        gaps = h.table("data_gaps", "id", "kind, kafka_partition, first_missing, next_seen")
        assert gaps == [
            {"kind": "offsets_skipped", "kafka_partition": 0, "first_missing": 2, "next_seen": 4}
        ]
        assert len(h.table("raw_events", "event_id", "event_id")) == 3
        shown = h.rows(
            "SELECT metric_value FROM dashboard_metrics WHERE metric_name = %s", ["data_gaps_total"]
        )
        assert shown == [{"metric_value": 1.0}]
        assert h.differences() == []
    finally:
        h.close()


def test_a_batch_id_seen_before_with_other_offsets_is_processed_not_skipped(
    harness: Harness,
) -> None:
    planned = {0: {"0": 2}}
    harness.handler.end_offsets = lambda batch_id: planned.get(batch_id)
    harness.run([event(), event()], batch_id=0, first_offset=0)
    # A checkpoint whose offsets/ and commits/ were removed plans batch 0 again, for offsets 2-3.
    planned[0] = {"0": 4}
    harness.run([event(), event()], batch_id=0, first_offset=2)
    assert len(harness.table("raw_events", "event_id", "event_id")) == 4
    # The same batch replayed after a crash (same offsets) is skipped as before.
    harness.run([event(), event()], batch_id=0, first_offset=2)
    assert len(harness.table("raw_events", "event_id", "event_id")) == 4
    ledger = harness.table("pipeline_batches", "committed_at", "input_rows, end_offsets")
    assert ledger == [
        {"input_rows": 2, "end_offsets": {"0": 2}},
        {"input_rows": 2, "end_offsets": {"0": 4}},
    ]
    assert harness.differences() == []
