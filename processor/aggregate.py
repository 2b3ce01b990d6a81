"""Deduplicated, new events in; per-batch partial aggregates out (DESIGN.md §4), one per table.

Partials merge into the stored rows by key: counts and sums add, times take min/max, and each
distinct count carries its exact set of ids (sorted arrays) so the sink can count only ids that
were never seen before. Merging the partials of two batches equals the partial of their union.
Late events are excluded by `countable` before any of this.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from processor.schema import (
    HOUR_PARTIAL_COLUMNS,
    PRODUCT_PARTIAL_COLUMNS,
    SESSION_PARTIAL_COLUMNS,
)


def _count_type(event_type: str) -> Column:
    return F.count(F.when(F.col("event_type") == event_type, F.lit(1))).cast("long")


def _purchase_sum(value: Column) -> Column:
    return F.coalesce(F.sum(F.when(F.col("event_type") == "purchase", value)), F.lit(0))


def _line_revenue() -> Column:
    return _purchase_sum(F.col("price") * F.col("quantity")).cast("decimal(16,2)")


def _distinct_ids(name: str, only_purchases: bool = False) -> Column:
    value = F.col(name)
    if only_purchases:
        value = F.when(F.col("event_type") == "purchase", value)
    return F.array_sort(F.collect_set(value))


def hour_start(event_time: Column) -> Column:
    """The UTC hour an event time falls in (hourly and product windows)."""
    return F.date_trunc("hour", event_time)


def countable(events: DataFrame) -> DataFrame:
    """The events that count in the aggregates: everything except late events."""
    return events.where(~F.col("is_late"))


def session_partials(events: DataFrame) -> DataFrame:
    """One row per session_id: first event (user, device, id), span, counts, revenue, order ids."""
    first = F.min(F.struct("event_time", "event_id", "user_id", "device_type")).alias("first")
    return (
        events.groupBy("session_id")
        .agg(
            first,
            F.max("event_time").alias("session_end"),
            F.count(F.lit(1)).cast("long").alias("events"),
            _count_type("page_view").alias("page_views"),
            _count_type("add_to_cart").alias("add_to_carts"),
            _count_type("purchase").alias("purchases"),
            _line_revenue().alias("revenue"),
            _distinct_ids("order_id", only_purchases=True).alias("order_ids"),
        )
        .select(
            "session_id",
            F.col("first.user_id").alias("user_id"),
            F.col("first.device_type").alias("device_type"),
            F.col("first.event_id").alias("first_event_id"),
            F.col("first.event_time").alias("session_start"),
            *SESSION_PARTIAL_COLUMNS[5:],
        )
    )


def product_partials(events: DataFrame) -> DataFrame:
    """One row per (hour, product_id) for events that name a product."""
    return (
        events.where(F.col("product_id").isNotNull())
        .groupBy(hour_start(F.col("event_time")).alias("window_start"), "product_id")
        .agg(
            F.min("category").alias("category"),
            _count_type("page_view").alias("views"),
            _count_type("add_to_cart").alias("add_to_carts"),
            _count_type("purchase").alias("purchases"),
            _purchase_sum(F.col("quantity")).cast("long").alias("units_sold"),
            _line_revenue().alias("revenue"),
        )
        .select(*PRODUCT_PARTIAL_COLUMNS)
    )


def hour_partials(events: DataFrame) -> DataFrame:
    """One row per hour: counts, revenue, and the exact sets of users, sessions and orders."""
    return (
        events.groupBy(hour_start(F.col("event_time")).alias("window_start"))
        .agg(
            F.count(F.lit(1)).cast("long").alias("events"),
            _count_type("page_view").alias("page_views"),
            _count_type("add_to_cart").alias("add_to_carts"),
            _count_type("purchase").alias("purchases"),
            _line_revenue().alias("revenue"),
            _distinct_ids("user_id").alias("user_ids"),
            _distinct_ids("session_id").alias("session_ids"),
            _distinct_ids("order_id", only_purchases=True).alias("order_ids"),
        )
        .select(*HOUR_PARTIAL_COLUMNS)
    )
