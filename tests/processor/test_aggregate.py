"""Per-batch partial aggregates against hand-computed rows (tests/processor/scenario.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from processor.aggregate import (
    countable,
    hour_partials,
    product_partials,
    session_partials,
)
from processor.schema import HOUR_PARTIAL_COLUMNS, PRODUCT_PARTIAL_COLUMNS, SESSION_PARTIAL_COLUMNS
from tests.processor.conftest import events_frame
from tests.processor.scenario import H14, H15, O1, P1, P2, SA, SB, SC, U1, U2, at, eid, scenario

pytestmark = pytest.mark.integration  # needs the Spark session (jars from start_infrastructure)


def rows(df: DataFrame, key: tuple[str, ...]) -> list[dict[str, Any]]:
    """Collect as dicts with UTC-aware times, sorted by key."""
    out = []
    for row in df.collect():
        d = row.asDict()
        for k, v in d.items():
            if isinstance(v, datetime):
                d[k] = v.replace(tzinfo=UTC)
        out.append(d)
    return sorted(out, key=lambda d: tuple(str(d[k]) for k in key))


@pytest.fixture(scope="module")
def events(spark):
    return events_frame(spark, scenario()).cache()


def test_session_partials(events) -> None:
    got = rows(session_partials(events), ("session_id",))
    expected = [
        dict(session_id=SA, user_id=U1, device_type="desktop", first_event_id=eid(1),
             session_start=at(14, 10), session_end=at(15, 5), events=5, page_views=2,
             add_to_carts=1, purchases=2, revenue=Decimal("25.50"), order_ids=[O1]),
        dict(session_id=SB, user_id=U2, device_type="mobile", first_event_id=eid(6),
             session_start=at(14, 30), session_end=at(14, 30), events=1, page_views=1,
             add_to_carts=0, purchases=0, revenue=Decimal("0.00"), order_ids=[]),
        dict(session_id=SC, user_id=U1, device_type="tablet", first_event_id=eid(7),
             session_start=at(15, 10), session_end=at(15, 11), events=2, page_views=1,
             add_to_carts=1, purchases=0, revenue=Decimal("0.00"), order_ids=[]),
    ]  # fmt: skip
    assert got == expected
    assert tuple(session_partials(events).columns) == SESSION_PARTIAL_COLUMNS


def test_product_partials(events) -> None:
    got = rows(product_partials(events), ("window_start", "product_id"))
    expected = [
        dict(window_start=H14, product_id=P1, category="books", views=1, add_to_carts=1,
             purchases=1, units_sold=2, revenue=Decimal("20.00")),
        dict(window_start=H14, product_id=P2, category=None, views=1, add_to_carts=0,
             purchases=1, units_sold=1, revenue=Decimal("5.50")),
        dict(window_start=H15, product_id=P1, category=None, views=1, add_to_carts=0,
             purchases=0, units_sold=0, revenue=Decimal("0.00")),
        dict(window_start=H15, product_id=P2, category=None, views=0, add_to_carts=1,
             purchases=0, units_sold=0, revenue=Decimal("0.00")),
    ]  # fmt: skip
    assert got == expected
    assert tuple(product_partials(events).columns) == PRODUCT_PARTIAL_COLUMNS


def test_hour_partials(events) -> None:
    got = rows(hour_partials(events), ("window_start",))
    expected = [
        dict(window_start=H14, events=5, page_views=2, add_to_carts=1, purchases=2,
             revenue=Decimal("25.50"), user_ids=[U1, U2], session_ids=[SA, SB], order_ids=[O1]),
        dict(window_start=H15, events=3, page_views=2, add_to_carts=1, purchases=0,
             revenue=Decimal("0.00"), user_ids=[U1], session_ids=[SA, SC], order_ids=[]),
    ]  # fmt: skip
    assert got == expected
    assert tuple(hour_partials(events).columns) == HOUR_PARTIAL_COLUMNS


def test_late_events_are_not_countable(events) -> None:
    marked = events.withColumn("is_late", F.col("event_id") == eid(6))
    got = rows(hour_partials(countable(marked)), ("window_start",))
    assert got[0]["events"] == 4 and got[0]["user_ids"] == [U1] and got[0]["session_ids"] == [SA]
    assert {
        r["session_id"] for r in rows(session_partials(countable(marked)), ("session_id",))
    } == {
        SA,
        SC,
    }


def test_first_event_breaks_time_ties_by_event_id(spark) -> None:
    base = scenario()[4]  # session B's single view at 14:30
    twin = {**base, "event_id": eid(9), "device_type": "tablet"}
    early = {**base, "event_id": eid(9), "timestamp": "2025-08-19T14:29:00.000Z"}
    got = rows(session_partials(events_frame(spark, [twin, base])), ("session_id",))
    assert got[0]["first_event_id"] == eid(6) and got[0]["device_type"] == "mobile"
    got = rows(session_partials(events_frame(spark, [base, early])), ("session_id",))
    assert got[0]["first_event_id"] == eid(9)
    assert got[0]["session_start"] == datetime(2025, 8, 19, 14, 29, tzinfo=UTC)
