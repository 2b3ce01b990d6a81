"""Valid events in, each event_id once out, with how many copies the batch held and a late flag.

Within a batch the copy at the earliest Kafka position wins, so a replayed batch picks the same
copy. Across batches raw_events' primary key decides (see sink.py): this module is pure.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from processor.schema import EVENT_COLUMNS

_FIELDS = [c for c in EVENT_COLUMNS if c not in ("event_id", "is_late")]
_POSITION = ("kafka_partition", "kafka_offset")


def dedupe_events(events: DataFrame) -> DataFrame:
    """One row per event_id (the earliest Kafka position wins) plus `copies`, the count seen."""
    ordered = [*_POSITION, *(c for c in _FIELDS if c not in _POSITION)]
    first = F.min(F.struct(*ordered)).alias("first")
    return (
        events.groupBy("event_id")
        .agg(first, F.count(F.lit(1)).alias("copies"))
        .select("event_id", *(F.col(f"first.{c}").alias(c) for c in _FIELDS), "copies")
    )


def late_threshold(newest_event_time: datetime | None, max_lateness: timedelta) -> datetime | None:
    """Event times before this are late: the newest time already committed minus the bound."""
    return None if newest_event_time is None else newest_event_time - max_lateness


def mark_late(events: DataFrame, threshold: datetime | None) -> DataFrame:
    """Add `is_late`: true when the event time is before `threshold` (never, without one)."""
    if threshold is None:
        return events.withColumn("is_late", F.lit(False))
    return events.withColumn("is_late", F.col("event_time") < F.lit(threshold))
