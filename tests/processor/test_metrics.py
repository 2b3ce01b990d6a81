"""Every metric of one micro-batch against hand-computed rows (tests/processor/scenario.py).

Small DataFrames go through the real per-batch path: parse in Spark, then the batch's
PostgreSQL transaction (dedupe, lateness, merges) in a scratch schema.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.processor.harness import Harness
from tests.processor.sample_events import simulate
from tests.processor.scenario import H14, H15, P1, P2, SA, SB, SC, U1, U2, at, eid, scenario

pytestmark = pytest.mark.integration

SESSION_COLUMNS = (
    "session_id, user_id, session_start, session_end, duration_seconds, events, page_views, "
    "add_to_carts, purchases, orders, revenue, converted, cart_abandoned, is_bounce, "
    "device_type, first_event_id"
)
PRODUCT_COLUMNS = (
    "window_start, product_id, category, views, add_to_carts, purchases, units_sold, revenue"
)
HOUR_COLUMNS = (
    "window_start, events, page_views, add_to_carts, purchases, orders, revenue, unique_users, "
    "unique_sessions, conversion_rate, avg_order_value"
)

EXPECTED_SESSIONS = [
    dict(session_id=SA, user_id=U1, session_start=at(14, 10), session_end=at(15, 5),
         duration_seconds=3300.0, events=5, page_views=2, add_to_carts=1, purchases=2, orders=1,
         revenue=Decimal("25.50"), converted=True, cart_abandoned=False, is_bounce=False,
         device_type="desktop", first_event_id=eid(1)),
    dict(session_id=SB, user_id=U2, session_start=at(14, 30), session_end=at(14, 30),
         duration_seconds=0.0, events=1, page_views=1, add_to_carts=0, purchases=0, orders=0,
         revenue=Decimal("0.00"), converted=False, cart_abandoned=False, is_bounce=True,
         device_type="mobile", first_event_id=eid(6)),
    dict(session_id=SC, user_id=U1, session_start=at(15, 10), session_end=at(15, 11),
         duration_seconds=60.0, events=2, page_views=1, add_to_carts=1, purchases=0, orders=0,
         revenue=Decimal("0.00"), converted=False, cart_abandoned=True, is_bounce=False,
         device_type="tablet", first_event_id=eid(7)),
]  # fmt: skip
EXPECTED_PRODUCTS = [
    dict(window_start=H14, product_id=P1, category="books", views=1, add_to_carts=1,
         purchases=1, units_sold=2, revenue=Decimal("20.00")),
    dict(window_start=H14, product_id=P2, category=None, views=1, add_to_carts=0,
         purchases=1, units_sold=1, revenue=Decimal("5.50")),
    dict(window_start=H15, product_id=P1, category=None, views=1, add_to_carts=0,
         purchases=0, units_sold=0, revenue=Decimal("0.00")),
    dict(window_start=H15, product_id=P2, category=None, views=0, add_to_carts=1,
         purchases=0, units_sold=0, revenue=Decimal("0.00")),
]  # fmt: skip
EXPECTED_HOURS = [
    dict(window_start=H14, events=5, page_views=2, add_to_carts=1, purchases=2, orders=1,
         revenue=Decimal("25.50"), unique_users=2, unique_sessions=2, conversion_rate=0.5,
         avg_order_value=Decimal("25.50")),
    dict(window_start=H15, events=3, page_views=2, add_to_carts=1, purchases=0, orders=0,
         revenue=Decimal("0.00"), unique_users=1, unique_sessions=2, conversion_rate=0.0,
         avg_order_value=None),
]  # fmt: skip
# Newest event 15:11. Last minute (15:10, 15:11]: e8. Last 5 min: session C (user U1).
# Sessions active in the last hour (end > 14:11): A, B, C; converted A; carted A, C; abandoned C.
# Purchases in the last hour: order O1 (20.00 + 5.50).
EXPECTED_KPIS = {
    "events_last_minute": 1.0,
    "active_users_5m": 1.0,
    "active_sessions_5m": 1.0,
    "conversion_rate_1h": 1 / 3,
    "cart_abandonment_rate_1h": 0.5,
    "revenue_1h": 25.5,
    "orders_1h": 1.0,
    "avg_order_value_1h": 25.5,
    "events_total": 8.0,
    "rejected_events_total": 0.0,
    "data_gaps_total": 0.0,
    "late_events_total": 0.0,
    "duplicate_events_total": 0.0,
    "newest_event_epoch": at(15, 11).timestamp(),
    "batch_input_rows": 8.0,
}


@pytest.fixture
def harness(spark, pg_schema):
    h = Harness(spark, pg_schema)
    yield h
    h.close()


def assert_scenario_tables(h: Harness) -> None:
    assert h.table("user_sessions", "session_id", SESSION_COLUMNS) == EXPECTED_SESSIONS
    assert h.table("product_metrics", "window_start, product_id", PRODUCT_COLUMNS) == (
        EXPECTED_PRODUCTS
    )
    assert h.table("hourly_metrics", "window_start", HOUR_COLUMNS) == EXPECTED_HOURS
    assert h.differences() == []


def test_one_batch_gives_every_metric(harness: Harness) -> None:
    harness.run(scenario())
    assert_scenario_tables(harness)
    kpis = {r["metric_name"]: r["metric_value"] for r in harness.table("dashboard_metrics", "1")}
    for name, value in EXPECTED_KPIS.items():
        assert kpis[name] == pytest.approx(value), name
    assert kpis["processing_lag_seconds"] > 0 and kpis["batch_duration_ms"] >= 0
    (batch,) = harness.table("pipeline_batches", "batch_id")
    assert batch["query_name"] == "t#q1" and batch["batch_id"] == 0
    assert (batch["input_rows"], batch["valid_rows"], batch["rejected_rows"]) == (8, 8, 0)
    assert (batch["duplicate_rows"], batch["late_rows"]) == (0, 0)
    assert batch["max_event_time"] == at(15, 11)
    assert batch["committed_at"] >= batch["started_at"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_in_any_order_merge_to_the_same_rows(spark, pg_schema, seed: int) -> None:
    import random

    events = scenario()
    random.Random(seed).shuffle(events)
    cut1, cut2 = sorted(random.Random(seed).sample(range(1, len(events)), 2))
    h = Harness(spark, pg_schema, lateness_seconds=7200)  # reordering here spans an hour
    try:
        for part in (events[:cut1], events[cut1:cut2], events[cut2:]):
            h.run(part)
        assert_scenario_tables(h)
    finally:
        h.close()


def test_duplicates_count_once_within_and_across_batches(harness: Harness) -> None:
    events = scenario()
    harness.run([*events[:5], events[0], events[2]])  # two copies inside the batch
    harness.run([*events[5:], events[3], events[0]])  # and two of earlier batches
    assert_scenario_tables(harness)
    dups = [r["duplicate_rows"] for r in harness.table("pipeline_batches", "batch_id")]
    assert dups == [2, 2]
    assert harness.rows("SELECT count(*) AS n FROM raw_events")[0]["n"] == 8


def test_each_batch_leaves_the_time_index_summarized(harness: Harness) -> None:
    events = simulate(400)  # enough rows for new BRIN block ranges (32 pages each)
    harness.run(events)
    pages = harness.rows(
        "SELECT sum(pg_relation_size(relid)) / 8192 AS n FROM pg_partition_tree('raw_events')"
    )[0]["n"]
    assert len(events) > 1000 and pages > 64
    # The sink summarized the batch's new block ranges after its commit: none is left.
    left = "SELECT summarize_time_index() AS n"  # the owner's brin_summarize_new_values
    assert harness.rows(left)[0]["n"] == 0
    assert harness.differences() == []


def test_an_event_id_in_upper_case_is_the_same_event(harness: Harness) -> None:
    events = scenario()
    shouted = [{**e, "event_id": e["event_id"].upper()} for e in events[:2]]
    harness.run([*events[:5], shouted[0]])  # within the batch
    harness.run([*events[5:], shouted[1]])  # and across batches
    assert_scenario_tables(harness)
    dups = [r["duplicate_rows"] for r in harness.table("pipeline_batches", "batch_id")]
    assert dups == [1, 1]
    stored = harness.rows(
        "SELECT event_id FROM raw_events WHERE event_id = %s", [events[0]["event_id"]]
    )
    assert [r["event_id"] for r in stored] == [events[0]["event_id"].lower()]


def test_late_events_are_stored_flagged_and_not_aggregated(spark, pg_schema) -> None:
    events = scenario()
    later, earlier = events[5:], events[:5]  # 15:05-15:11 first, then 14:10-14:30
    h = Harness(spark, pg_schema, lateness_seconds=1800)  # late: before 15:11 - 30 min
    try:
        h.run(later)
        h.run(earlier)
        late = h.rows("SELECT event_id::text AS id FROM raw_events WHERE is_late ORDER BY 1")
        assert [r["id"] for r in late] == sorted(eid(n) for n in (1, 2, 3, 4, 6))
        hours = h.table("hourly_metrics", "window_start", "window_start, events")
        assert hours == [dict(window_start=H15, events=3)]
        sessions = h.table("user_sessions", "session_id", "session_id, events, session_start")
        assert sessions == [
            dict(session_id=SA, events=1, session_start=at(15, 5)),
            dict(session_id=SC, events=2, session_start=at(15, 10)),
        ]
        assert [r["late_rows"] for r in h.table("pipeline_batches", "batch_id")] == [0, 5]
        kpi = h.rows(
            "SELECT metric_value FROM dashboard_metrics WHERE metric_name = %s",
            ["late_events_total"],
        )
        assert kpi[0]["metric_value"] == 5
        assert h.differences() == []
    finally:
        h.close()


def test_out_of_order_within_the_bound_lands_in_its_hour(harness: Harness) -> None:
    events = scenario()
    harness.run(events[5:])  # 15:05-15:11: the bound becomes 14:11 (1 hour)
    harness.run(events[:5])  # 14:10 is beyond it; 14:12-14:30 are out of order but on time
    late = harness.rows("SELECT event_id::text AS id FROM raw_events WHERE is_late")
    assert late == [dict(id=eid(1))]
    hours = harness.table("hourly_metrics", "window_start", "window_start, events, orders")
    assert hours == [
        dict(window_start=H14, events=4, orders=1),
        dict(window_start=H15, events=3, orders=0),
    ]
    (a,) = harness.rows(
        "SELECT session_start, first_event_id::text AS f, events FROM user_sessions "
        "WHERE session_id = %s",
        [SA],
    )
    assert a == dict(session_start=at(14, 12), f=eid(2), events=4)
    assert harness.differences() == []


def test_a_replayed_batch_changes_nothing(harness: Harness) -> None:
    events = scenario()
    harness.run(events[:4], batch_id=0, first_offset=0)
    harness.run(events[4:], batch_id=1, first_offset=4)
    before = harness.table("user_sessions", "session_id")
    harness.run(events[4:], batch_id=1, first_offset=4)  # Spark replays batch 1 after a crash
    assert harness.table("user_sessions", "session_id") == before
    assert len(harness.table("pipeline_batches", "batch_id")) == 2
    assert_scenario_tables(harness)


def test_rejections_are_stored_once_with_reason_and_position(harness: Harness) -> None:
    messages = ["garbage", *scenario(), '{"event_id": 1}']
    harness.run(messages, first_offset=0)
    harness.handler.set_query_id("q2")  # a fresh checkpoint re-reads the same messages
    harness.run(messages, batch_id=0, first_offset=0)
    rejected = harness.table("rejected_events", "kafka_offset", "kafka_offset, reason, raw_payload")
    assert rejected == [
        dict(kafka_offset=0, reason="invalid_json", raw_payload="garbage"),
        dict(kafka_offset=9, reason="missing_field:event_type", raw_payload='{"event_id": 1}'),
    ]
    batches = harness.table(
        "pipeline_batches", "query_name", "query_name, rejected_rows, duplicate_rows"
    )
    assert batches == [
        dict(query_name="t#q1", rejected_rows=2, duplicate_rows=0),
        dict(query_name="t#q2", rejected_rows=0, duplicate_rows=10),
    ]
    assert_scenario_tables(harness)
