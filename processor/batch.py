"""The foreachBatch function: Kafka rows of one micro-batch in, one committed transaction out.

Spark does the per-message work (decode, parse, validate; processor/parse.py) in a single job
with no shuffle, collected once as Arrow. Everything that depends on what is already stored
(duplicates across batches, lateness, merging into the analytics tables) happens in the
batch's PostgreSQL transaction (processor/sink.py). One log line per batch.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame

from processor.parse import parse_messages
from processor.schema import EVENT_COLUMNS, REJECT_COLUMNS
from processor.sink import BatchInput, BatchResult, PostgresSink

log = logging.getLogger("processor.batch")


def split_checked(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Split collected checked rows into (valid events, rejections) in their staging layouts."""
    is_valid = pc.is_null(table["reason"])
    events = table.filter(is_valid).select(list(EVENT_COLUMNS))
    rejects = table.filter(pc.invert(is_valid)).select(list(REJECT_COLUMNS))
    return events, rejects


def batch_input(
    checked: pa.Table, query_name: str, batch_id: int, started_at: datetime, started_clock: float
) -> BatchInput:
    """What the sink needs from one batch's collected checked rows."""
    events, rejects = split_checked(checked)
    return BatchInput(
        query_name=query_name,
        batch_id=batch_id,
        started_at=started_at,
        started_clock=started_clock,
        events=events,
        rejects=rejects,
        max_event_time=pc.max(events["event_time"]).as_py(),
        max_kafka_timestamp=pc.max(checked["kafka_timestamp"]).as_py(),
    )


@dataclass
class RunTotals:
    """Counters over the batches this process handled (for the end-of-run summary)."""

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
    """Callable given to foreachBatch; owns nothing but the sink and the run's counters."""

    sink: PostgresSink
    topic: str
    totals: RunTotals = field(default_factory=RunTotals)
    busy: threading.Event = field(default_factory=threading.Event)
    _query_id: str | None = None
    _query_id_set: threading.Event = field(default_factory=threading.Event)

    def set_query_id(self, query_id: str) -> None:
        """Name the ledger rows after the streaming query's id (kept in the checkpoint)."""
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
        checked = parse_messages(messages).toArrow()
        if checked.num_rows == 0:
            return
        batch = batch_input(checked, query_name, batch_id, started_at, started_clock)
        spark_ms = int((time.monotonic() - started_clock) * 1000)
        result = self.sink.write_batch(batch)
        self.totals.add(batch, result)
        _log_batch(batch, result, spark_ms)


def _log_batch(batch: BatchInput, result: BatchResult, spark_ms: int) -> None:
    if result.skipped:
        log.info("batch %d: already committed, skipped", batch.batch_id)
        return
    lag = (
        (datetime.now(UTC) - batch.max_kafka_timestamp).total_seconds()
        if batch.max_kafka_timestamp
        else 0.0
    )
    log.info(
        "batch %d: %d rows, %d new events, %d rejected, %d duplicates, %d late, lag %.1fs, "
        "%d ms (spark %d, %s)",
        batch.batch_id,
        batch.input_rows,
        result.new_events,
        batch.rejects.num_rows,
        result.duplicate_rows,
        result.late_rows,
        lag,
        result.duration_ms,
        spark_ms,
        ", ".join(f"{name} {ms}" for name, ms in result.steps_ms),
    )
