"""The foreachBatch function: Kafka rows of one micro-batch in, one committed transaction out.

It wires the pure stages (parse -> dedupe -> late flag -> partial aggregates) to the sink and
logs one line per batch. Spark work is done once per batch: the checked rows and the
deduplicated events are persisted, collected in one job, and aggregated from the cache.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from processor.aggregate import countable, hour_partials, product_partials, session_partials
from processor.dedupe import dedupe_events, late_threshold, mark_late
from processor.parse import parse_messages, rejections, valid_events
from processor.schema import EVENT_COLUMNS, REJECT_COLUMNS
from processor.sink import BatchInput, BatchResult, Partials, PostgresSink

log = logging.getLogger("processor.batch")


def to_copy_frame(df: DataFrame) -> pa.Table:
    """Collect a DataFrame as Arrow, array columns rendered as PostgreSQL array literals."""
    columns = [
        F.concat(F.lit("{"), F.array_join(name, ","), F.lit("}")).alias(name)
        if dtype.startswith("array")
        else F.col(name)
        for name, dtype in df.dtypes
    ]
    return df.select(*columns).toArrow()


def compute_partials(events: DataFrame, existing: Sequence[str] = ()) -> Partials:
    """Partial aggregates of the countable events, minus event ids already stored before."""
    base = countable(events)
    if existing:
        ids = events.sparkSession.createDataFrame([(i,) for i in existing], "event_id string")
        base = base.join(F.broadcast(ids), "event_id", "left_anti")
    return Partials(
        sessions=to_copy_frame(session_partials(base)),
        products=to_copy_frame(product_partials(base)),
        hours=to_copy_frame(hour_partials(base)),
    )


@dataclass
class RunTotals:
    """Counters over the batches this process committed (for the end-of-run summary)."""

    batches: int = 0
    skipped: int = 0
    input_rows: int = 0
    new_events: int = 0
    rejected: int = 0
    duplicates: int = 0
    late: int = 0

    def add(self, batch: BatchInput, result: BatchResult) -> None:
        """Count one committed (or skipped) batch."""
        if result.skipped:
            self.skipped += 1
            return
        self.batches += 1
        self.input_rows += batch.input_rows
        self.new_events += result.new_events
        self.rejected += result.rejected_rows
        self.duplicates += result.duplicate_rows
        self.late += result.late_rows


@dataclass
class MicroBatchHandler:
    """Callable given to foreachBatch; owns nothing but the sink and the lateness bound."""

    sink: PostgresSink
    topic: str
    max_lateness: timedelta
    totals: RunTotals = field(default_factory=RunTotals)
    busy: threading.Event = field(default_factory=threading.Event)
    _query_id: str | None = None
    _query_id_set: threading.Event = field(default_factory=threading.Event)

    def set_query_id(self, query_id: str) -> None:
        """Name the ledger rows after the streaming query's id (stable across restarts)."""
        self._query_id = query_id
        self._query_id_set.set()

    @property
    def query_name(self) -> str:
        """The pipeline_batches query_name: topic and checkpointed query id."""
        self._query_id_set.wait()
        return f"{self.topic}#{self._query_id}"

    def __call__(self, messages: DataFrame, batch_id: int) -> None:
        """Process one micro-batch exactly once."""
        self.busy.set()
        try:
            self._handle(messages, batch_id)
        finally:
            self.busy.clear()

    def _handle(self, messages: DataFrame, batch_id: int) -> None:
        started_at, started_clock = datetime.now(UTC), time.monotonic()
        query_name = self.query_name
        if self.sink.batch_done(query_name, batch_id):
            log.info("batch %d: already committed, skipped", batch_id)
            self.totals.skipped += 1
            return
        threshold = late_threshold(self.sink.newest_event_time(), self.max_lateness)
        checked = parse_messages(messages).persist()
        events = mark_late(dedupe_events(valid_events(checked)), threshold).persist()
        try:
            collected = events.unionByName(rejections(checked), allowMissingColumns=True).toArrow()
            if collected.num_rows == 0:
                return
            batch = _batch_input(query_name, batch_id, started_at, started_clock, collected)
            with ThreadPoolExecutor(max_workers=1) as pool:
                # Cross-batch duplicates are rare: aggregate optimistically while PostgreSQL
                # stores the events, and recompute only if some were already stored.
                speculative: Future[Partials] = pool.submit(compute_partials, events)

                def partials_for(existing: Sequence[str]) -> Partials:
                    if existing:
                        return compute_partials(events, existing)
                    return speculative.result()

                result = self.sink.write_batch(batch, partials_for)
            self.totals.add(batch, result)
            _log_batch(batch, result)
        finally:
            events.unpersist()
            checked.unpersist()


def _batch_input(
    query_name: str, batch_id: int, started_at: datetime, started_clock: float, rows: pa.Table
) -> BatchInput:
    is_valid = pc.is_null(rows["reason"])
    events = rows.filter(is_valid)
    rejects = rows.filter(pc.invert(is_valid))
    valid_rows = int(pc.sum(events["copies"]).as_py() or 0)
    return BatchInput(
        query_name=query_name,
        batch_id=batch_id,
        started_at=started_at,
        started_clock=started_clock,
        events=events.select(list(EVENT_COLUMNS)),
        rejects=rejects.select(list(REJECT_COLUMNS)),
        input_rows=valid_rows + rejects.num_rows,
        valid_rows=valid_rows,
        max_event_time=pc.max(events["event_time"]).as_py(),
        max_kafka_timestamp=pc.max(rows["kafka_timestamp"]).as_py(),
    )


def _log_batch(batch: BatchInput, result: BatchResult) -> None:
    if result.skipped:
        log.info("batch %d: already committed, skipped", batch.batch_id)
        return
    lag = (
        (datetime.now(UTC) - batch.max_kafka_timestamp).total_seconds()
        if batch.max_kafka_timestamp
        else 0.0
    )
    log.info(
        "batch %d: %d rows, %d new events, %d rejected, %d duplicates, %d late, lag %.1fs, %d ms",
        batch.batch_id,
        batch.input_rows,
        result.new_events,
        batch.rejects.num_rows,
        result.duplicate_rows,
        result.late_rows,
        lag,
        result.duration_ms,
    )
