"""The foreachBatch function: Kafka rows of one micro-batch in, one committed transaction out.

Spark does the per-message work (decode, parse, validate; processor/parse.py) in a single job
with no shuffle, streamed to the driver as Arrow record batches while it runs, so PostgreSQL
stores the first chunks while Spark computes the rest. Everything that depends on what is
already stored (duplicates across batches, lateness, merging into the analytics tables)
happens in the batch's PostgreSQL transaction (processor/sink.py). One log line per batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
from pyspark.sql import DataFrame

from processor.chunks import BatchInput, Chunks, Counts, TopicRecreated
from processor.parse import ParseRules, parse_messages
from processor.sink import BatchResult, PostgresSink

log = logging.getLogger("processor.batch")


def arrow_stream(df: DataFrame) -> Iterator[pa.RecordBatch]:
    """Arrow record batches of `df` as Spark's tasks finish them (in no particular order).

    DataFrame.toArrow() waits for the whole job; this reads the same socket stream it reads
    (pyspark 4.2 internals, pinned in requirements.txt) and yields each batch on arrival.
    """
    from pyspark.errors.exceptions.captured import unwrap_spark_exception
    from pyspark.sql.pandas.serializers import ArrowCollectSerializer
    from pyspark.traceback_utils import SCCallSiteSync
    from pyspark.util import _load_from_socket

    if not hasattr(df, "_jdf"):  # Spark Connect has no JVM handle: collect it all at once
        yield from df.toArrow().to_batches()
        return
    # SCCallSiteSync and ArrowCollectSerializer are unannotated pyspark internals.
    with SCCallSiteSync(df.sparkSession.sparkContext):  # type: ignore[no-untyped-call]
        port, secret, server = df._jdf.collectAsArrowToPython()
    try:
        serializer = ArrowCollectSerializer()  # type: ignore[no-untyped-call]
        with _load_from_socket((port, secret), serializer) as stream:
            for item in stream:
                if isinstance(item, pa.RecordBatch) and item.num_rows:
                    yield item  # the stream ends with the batches' order, which we do not need
    finally:
        with unwrap_spark_exception():
            server.getResult()


@dataclass
class RunTotals:
    """The batches this process handled, and their counts added up (the end-of-run summary)."""

    batches: int = 0
    skipped: int = 0
    counts: Counts = field(default_factory=Counts)

    def add(self, result: BatchResult) -> None:
        """Count one committed (or skipped) batch."""
        if result.skipped:
            self.skipped += 1
            return
        self.batches += 1
        self.counts += result.counts


@dataclass
class MicroBatchHandler:
    """Callable given to foreachBatch; owns nothing but the sink and the run's counters."""

    sink: PostgresSink
    topic: str
    rules: ParseRules = field(default_factory=ParseRules)
    # Kafka's id of the topic now, asked once per batch (a recreated topic gets a new one).
    topic_id: Callable[[], str | None] = lambda: None
    # The end offsets of a batch as Spark's offset log plans them (processor/checkpoint.py).
    end_offsets: Callable[[int], dict[str, int] | None] = lambda batch_id: None
    totals: RunTotals = field(default_factory=RunTotals)
    busy: threading.Event = field(default_factory=threading.Event)
    recreated: TopicRecreated | None = None
    _query_id: str | None = None
    _query_id_set: threading.Event = field(default_factory=threading.Event)

    def set_query_id(self, query_id: str) -> None:
        """Name the ledger rows after the streaming query's id (kept in the checkpoint)."""
        self._query_id = query_id
        self._query_id_set.set()

    @property
    def query_name_if_started(self) -> str | None:
        """query_name once a query has started, else None (never waits)."""
        return self.query_name if self._query_id_set.is_set() else None

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
        except TopicRecreated as exc:
            self.recreated = exc  # the query fails with it; the run loop starts a new one
            raise
        finally:
            self.busy.clear()

    def _handle(self, messages: DataFrame, batch_id: int) -> None:
        started_at, started_clock = datetime.now(UTC), time.monotonic()
        query_name = self.query_name
        planned = self.end_offsets(batch_id)
        recorded, committed = self.sink.committed_offsets(query_name, batch_id)
        if recorded and (committed is None or planned is None or committed == planned):
            log.info("batch %d: already committed, skipped", batch_id)
            self.totals.skipped += 1
            return
        if recorded:
            # The same id for other offsets: a checkpoint restored from a backup, or one whose
            # offsets/ and commits/ were removed. Never skip unseen data: process it (stored
            # events count as duplicates) under a ledger key of its own.
            log.warning(
                "batch %d was committed for offsets %s and is now planned for %s (a restored "
                "or edited checkpoint); processing it as new data",
                batch_id,
                committed,
                planned,
            )
            query_name = f"{query_name}~{_digest(planned)}"
        batch = BatchInput(
            query_name=query_name,
            batch_id=batch_id,
            started_at=started_at,
            started_clock=started_clock,
            chunks=Chunks(arrow_stream(parse_messages(messages, self.rules))),
            topic=self.topic,
            topic_id=self.topic_id(),
            end_offsets=planned,
        )
        try:
            result = self.sink.write_batch(batch)
        finally:
            batch.chunks.drain()  # never leave Spark's result stream half read
        if result.counts.messages:
            self.totals.add(result)
            _log_batch(batch_id, result)


def _digest(offsets: object) -> str:
    return hashlib.sha256(json.dumps(offsets, sort_keys=True).encode()).hexdigest()[:12]


def _log_batch(batch_id: int, result: BatchResult) -> None:
    if result.skipped:
        log.info("batch %d: already committed, skipped", batch_id)
        return
    newest = result.max_kafka_timestamp
    lag = (datetime.now(UTC) - newest).total_seconds() if newest else 0.0
    c = result.counts
    log.info(
        "batch %d: %d rows, %d new events, %d rejected, %d duplicates, %d late, lag %.1fs, "
        "%d ms (%s)",
        batch_id,
        c.messages,
        c.new_events,
        c.rejected,
        c.duplicates,
        c.late,
        lag,
        result.duration_ms,
        ", ".join(f"{name} {ms}" for name, ms in result.steps_ms),
    )
