"""The per-chunk steps of one batch's transaction: offset order and lateness, store, merge, count.

processor/sink.py opens the transaction, takes the writer lock, skips a batch already recorded
and decides what commits. Between, `store_chunks` does the work on each chunk Spark streams in:
it puts the chunk in offset order and flags late events (the lateness rule, processor/lateness.py,
with its bound from `SinkRules.lateness_us`), stores its events once (`store_events`), merges the
new ones into the aggregates (`merge_new_events`), stages its rejections, and counts. Gaps in
the offsets are reported (or stop the batch), and the partitions' lateness state is saved.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from processor.bots import bot_flags
from processor.encode import copy_arrow, exclude_ids, prepare_events
from processor.lateness import Gap, OffsetOrder, PartitionState, event_micros
from processor.schema import NEW_EVENT_COLUMNS, REJECT_COLUMNS, STORED_COLUMNS
from processor.settings import ProcessorError
from processor.sql import load_sql
from processor.strict import recheck

log = logging.getLogger("processor.sink")
T = TypeVar("T")


class DataLoss(ProcessorError):
    """Messages of the topic were never read (PROCESSOR_ON_DATA_LOSS=fail stops here)."""


class TopicRecreated(ProcessorError):
    """The topic has a new Kafka id: the checkpoint's offsets belong to the old topic, so the
    query must start again from the new topic's beginning (PROCESSOR_ON_DATA_LOSS=continue)."""

    def __init__(self, topic: str, old_id: str, new_id: str) -> None:
        super().__init__(f"topic {topic} was deleted and created again (id {old_id} -> {new_id})")
        self.topic, self.old_id, self.new_id = topic, old_id, new_id


@dataclass(frozen=True)
class SinkRules:
    """How the sink treats what it finds: lateness bound, data loss, stored payload prefix."""

    max_lateness_seconds: float = 3600.0
    on_data_loss: str = "fail"  # or "continue": record the gap in data_gaps and go on
    payload_prefix_bytes: int = 4096
    retention_days: int = 7  # raw_events and rejected_events (0: keep everything)

    @property
    def lateness_us(self) -> int:
        """The lateness bound as the rule applies it (processor/lateness.py): a valid event is
        late when its time is more than this before the newest event time of the valid
        messages before it in its partition."""
        return int(self.max_lateness_seconds * 1_000_000)


class Chunks:
    """Arrow record batches of checked rows, read once from a source and replayable after."""

    def __init__(self, source: Iterable[pa.RecordBatch]) -> None:
        self._source: Iterator[pa.RecordBatch] | None = iter(source)
        self._seen: list[pa.RecordBatch] = []

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        yield from list(self._seen)
        while self._source is not None:
            chunk = next(self._source, None)
            if chunk is None:
                self._source = None
                return
            self._seen.append(chunk)
            yield chunk

    def drain(self) -> None:
        """Read the rest of the source (it must not be left half-consumed)."""
        for _ in self:
            pass


@dataclass(frozen=True)
class BatchInput:
    """One micro-batch for the sink: its key and the checked rows (parse.py's layout)."""

    query_name: str
    batch_id: int
    started_at: datetime
    started_clock: float
    chunks: Chunks
    topic: str = ""
    topic_id: str | None = None  # Kafka's id of the topic now (None: not known)
    end_offsets: dict[str, int] | None = None  # from Spark's offset log (None: not known)


@dataclass
class Counts:
    """What batches did with the messages they read. Every message is exactly one of: a new
    event, a duplicate (its event_id, or for a rejection its Kafka position, was already
    stored) or a newly stored rejection; `late` new events are beyond the lateness bound."""

    messages: int = 0
    new_events: int = 0
    duplicates: int = 0
    rejected: int = 0
    late: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.messages += other.messages
        self.new_events += other.new_events
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.late += other.late
        return self


def store_chunks(
    cur: psycopg.Cursor[Any], batch: BatchInput, rules: SinkRules, steps: Steps
) -> ChunkTotals:
    """Store and merge every chunk of the batch in offset order, late events flagged; report
    gaps (or stop, by the data-loss rule) and save the partitions' lateness state."""
    order = OffsetOrder(load_progress(cur, batch, rules), rules.lateness_us)
    totals = ChunkTotals()

    def ordered() -> Iterator[pa.RecordBatch]:
        for chunk in steps.timed("spark", batch.chunks):
            yield from order.add(recheck(chunk, rules.payload_prefix_bytes))
        yield from order.rest()

    # Each chunk is stored and merged while Spark still computes the next ones (merging per
    # chunk, not once per batch, keeps PostgreSQL busy while Spark is, and the merges give the
    # same rows in any order). Lateness needs each partition's chunks in offset order: a chunk
    # whose predecessors have not arrived waits for them.
    for chunk in ordered():
        events, rejects = split_checked(chunk)
        store_events(cur, prepare_events(events), batch.topic_id)
        rejects = with_topic_id(rejects, batch.topic_id)
        copy_arrow(cur, "stage_rejects", (*REJECT_COLUMNS, "kafka_topic_id"), rejects)
        with steps.within("aggregates"):
            new, late = merge_new_events(cur)
        totals.add(chunk, events, new, late)
    if order.gaps:
        missing = sum(g.next_seen - g.first_missing for g in order.gaps)
        where = ", ".join(
            f"partition {g.partition} offsets {g.first_missing}..{g.next_seen - 1}"
            for g in order.gaps
        )
        _data_loss(
            cur,
            batch,
            rules,
            order.gaps,
            "offsets_skipped",
            f"{missing} messages of topic {batch.topic} were never read ({where}): they "
            "aged out of retention, or the topic was recreated",
        )
    save_progress(cur, batch, order)
    return totals


def store_events(cur: psycopg.Cursor[Any], events: pa.Table, topic_id: str | None) -> None:
    """Store a chunk's events (prepare_events' rows) in raw_events, and the new ones in stage_new.

    Ids raw_events already holds are left out, then the rest is copied straight into
    raw_events. The batch holds the writer lock (writer_lock.sql), so no other writer stores
    one of them in between.
    """
    if events.num_rows == 0:
        return
    events = with_topic_id(events, topic_id)
    ids = events.column("event_id").combine_chunks()
    blob = ids.buffers()[1][ids.offset * 16 : (ids.offset + len(ids)) * 16].to_pybytes()
    stored = cur.execute(load_sql("merge", "stored_ids"), {"ids": blob}, binary=True)
    events = exclude_ids(events, [r[0] for r in stored.fetchall()])
    copy_arrow(cur, "raw_events", STORED_COLUMNS, events)
    events = events.append_column("is_bot", bot_flags(events.column("user_agent")))
    copy_arrow(cur, "stage_new", NEW_EVENT_COLUMNS, by_session(events.select(NEW_EVENT_COLUMNS)))


def with_topic_id(
    rows: pa.Table | pa.RecordBatch, topic_id: str | None
) -> pa.Table | pa.RecordBatch:
    """`rows` with the batch's Kafka topic id as a column ('' when Kafka did not say)."""
    ids = pa.array([topic_id or ""] * rows.num_rows, pa.string())
    return rows.append_column("kafka_topic_id", ids)


def by_session(events: pa.Table) -> pa.Table:
    """Rows in merge_sessions.sql's order (session, time, id): PostgreSQL's sort then only
    checks that they are in order."""
    keys = [("session_id", "ascending"), ("event_time", "ascending"), ("event_id", "ascending")]
    return events.take(pc.sort_indices(events, sort_keys=keys))


# The aggregates each chunk's new, non-late events are merged into (db/merge/<name>.sql), in
# this order. The per-event merges (sessions, products, hours) commute with each other and
# across chunks. experiment_metrics is per session: what the chunk's sessions counted for it is
# noted before merge_sessions and again after it, and the difference is merged by key.
MERGES: tuple[tuple[str, dict[str, int] | None], ...] = (
    ("experiment_sessions", {"sign": -1}),  # what the sessions counted for, taken out
    ("merge_sessions", None),
    ("merge_products", None),
    ("merge_hours", None),
    ("experiment_sessions", {"sign": 1}),  # and what they count for now, put in
    ("merge_experiments", None),
    ("prune_experiments", None),
)


def merge_new_events(cur: psycopg.Cursor[Any]) -> tuple[int, int]:
    """Merge stage_new's non-late events into the aggregates, empty it; (new events, late)."""
    counts = cur.execute(load_sql("merge", "new_event_counts")).fetchone()
    new_events, late = counts or (0, 0)
    if new_events > late:
        for merge, params in MERGES:
            cur.execute(load_sql("merge", merge), params)
    cur.execute(load_sql("merge", "next_chunk"))
    return int(new_events), int(late)


def split_checked(rows: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """Split checked rows into (valid events, rejections) by `reason`."""
    is_valid = pc.is_null(rows["reason"])
    return rows.filter(is_valid), rows.filter(pc.invert(is_valid))


def _max(current: datetime | None, column: pa.Array) -> datetime | None:
    value = pc.max(column).as_py()
    return value if current is None or (value is not None and value > current) else current


@dataclass
class ChunkTotals:
    """What the chunks of one batch added up to."""

    valid_rows: int = 0
    input_rows: int = 0
    new_events: int = 0
    late_rows: int = 0
    max_event_time: datetime | None = None
    max_kafka_timestamp: datetime | None = None

    def add(self, chunk: pa.RecordBatch, events: pa.RecordBatch, new: int, late: int) -> None:
        """Count one stored chunk."""
        self.new_events += new
        self.late_rows += late
        self.valid_rows += events.num_rows
        self.input_rows += chunk.num_rows
        self.max_event_time = _max(self.max_event_time, events["event_time"])
        self.max_kafka_timestamp = _max(self.max_kafka_timestamp, chunk["kafka_timestamp"])


def load_progress(
    cur: psycopg.Cursor[Any], batch: BatchInput, rules: SinkRules
) -> dict[int, PartitionState]:
    """The topic's lateness state; a topic recreated since is a gap (reported, or a stop)."""
    rows = cur.execute(load_sql("merge", "load_progress"), {"topic": batch.topic}).fetchall()
    known = {row[3] for row in rows if row[3] is not None}
    recreated = recreated_topic(batch.topic, known, batch.topic_id, rules)
    if recreated is not None:
        raise recreated
    return {
        int(p): PartitionState(int(nxt), None if t is None else _micros(t)) for p, nxt, t, _ in rows
    }


def recreated_topic(
    topic: str, known: set[str], topic_id: str | None, rules: SinkRules
) -> TopicRecreated | None:
    """A changed topic id: the recreation to handle (continue), or DataLoss raised (fail)."""
    if topic_id is None or not known or known == {topic_id}:
        return None
    exc = TopicRecreated(topic, sorted(known)[0], topic_id)
    if rules.on_data_loss == "continue":
        return exc
    raise DataLoss(
        f"{exc}: messages of the old topic that were not read are lost, and the checkpoint's "
        "offsets belong to the old topic. Set PROCESSOR_ON_DATA_LOSS=continue to record it in "
        "data_gaps and read the new topic from its start."
    )


def _micros(value: datetime) -> int:
    return int(event_micros(pa.array([value], pa.timestamp("us", tz="UTC")))[0])


def _data_loss(
    cur: psycopg.Cursor[Any],
    batch: BatchInput,
    rules: SinkRules,
    gaps: list[Gap],
    kind: str,
    message: str,
) -> None:
    """Stop (on_data_loss=fail), or log loudly and record every gap in data_gaps (continue)."""
    if rules.on_data_loss == "fail":
        raise DataLoss(
            f"{message}. The batch is not committed. Set PROCESSOR_ON_DATA_LOSS=continue to "
            "record the gap in data_gaps and go on."
        )
    log.error("DATA LOSS in batch %d: %s; recorded in data_gaps", batch.batch_id, message)
    for gap in gaps:
        cur.execute(
            load_sql("merge", "insert_gap"),
            {
                "topic": batch.topic,
                "partition": gap.partition,
                "first_missing": gap.first_missing,
                "next_seen": gap.next_seen,
                "kind": kind,
                "query_name": batch.query_name,
                "batch_id": batch.batch_id,
            },
        )


def save_progress(cur: psycopg.Cursor[Any], batch: BatchInput, order: OffsetOrder) -> None:
    """Advance the lateness state of the partitions this batch read."""
    for p in sorted(order.touched):
        state = order.state[p]
        newest = state.max_event_us
        cur.execute(
            load_sql("merge", "save_progress"),
            {
                "topic": batch.topic,
                "partition": p,
                "next_offset": state.next_offset,
                "max_event_time": None
                if newest is None
                else datetime.fromtimestamp(newest / 1_000_000, UTC),
                "topic_id": batch.topic_id,
            },
        )


_END = object()


class Steps:
    """Wall time per step of the transaction, for the batch's log line.

    `timed` (waiting on an iterator) and `within` (a block) take their time out of the step
    they run in, so "spark" is the wait for Spark's results, "aggregates" the merges and
    "store" the rest of the work on the chunks.
    """

    def __init__(self) -> None:
        self._last = time.monotonic()
        self._waits: dict[str, float] = {}
        self.laps: tuple[tuple[str, int], ...] = ()

    def timed(self, name: str, items: Iterable[T]) -> Iterator[T]:
        """Yield from `items`, adding the time each next() takes to step `name`."""
        iterator = iter(items)
        while True:
            started = time.monotonic()
            item = next(iterator, _END)
            self._waits[name] = self._waits.get(name, 0.0) + time.monotonic() - started
            if item is _END:
                return
            yield item  # type: ignore[misc]

    @contextmanager
    def within(self, name: str) -> Iterator[None]:
        """Add the time the block takes to step `name`."""
        started = time.monotonic()
        try:
            yield
        finally:
            self._waits[name] = self._waits.get(name, 0.0) + time.monotonic() - started

    def lap(self, name: str) -> None:
        """Close step `name` (less the steps timed inside it), and record those too."""
        now = time.monotonic()
        waited = sum(self._waits.values())
        self.laps += tuple((k, int(v * 1000)) for k, v in self._waits.items())
        self.laps += ((name, int((now - self._last - waited) * 1000)),)
        self._waits.clear()
        self._last = now
