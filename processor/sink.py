"""One micro-batch in (Arrow tables), one PostgreSQL transaction out: the commit rule lives here.

Inside a single transaction, holding the schema's writer lock, per chunk: leave out the event
ids raw_events holds already (the truth about duplicates, across batches too), COPY the rest
straight into raw_events (one copy per id, late ones flagged: processor/encode.py) and into
stage_new. Then merge only the new, non-late events into user_sessions, product_metrics and
hourly_metrics (db/merge/*.sql), store rejections, record the batch in pipeline_batches and
refresh dashboard_metrics. A batch already in pipeline_batches is skipped, so a replay after a
crash changes nothing. Lost connections (PostgreSQL restarting) are retried with backoff; the
batch is then redone from the start in a fresh transaction. Retention (whole days of
raw_events and rejected_events) runs at start and once a day, between batches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg.types.json import Jsonb

from processor.encode import copy_arrow, exclude_ids, prepare_events
from processor.lateness import Gap, OffsetOrder, PartitionState, event_micros
from processor.schema import NEW_EVENT_COLUMNS, REJECT_COLUMNS, STORED_COLUMNS
from processor.settings import ProcessorError
from processor.sql import load_sql
from processor.strict import recheck

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRYABLE = (psycopg.OperationalError, psycopg.errors.SerializationFailure)


class SinkError(ProcessorError):
    """PostgreSQL stayed unreachable or refused a batch; the message says what to do."""


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


@dataclass(frozen=True)
class BatchResult:
    """What the transaction did: stored events, duplicates, late events, stored rejections."""

    skipped: bool
    new_events: int = 0
    duplicate_rows: int = 0
    late_rows: int = 0
    rejected_rows: int = 0
    input_rows: int = 0
    duration_ms: int = 0
    steps_ms: tuple[tuple[str, int], ...] = ()
    max_kafka_timestamp: datetime | None = None


class PostgresSink:
    """Writes micro-batches transactionally; reconnects and retries while PostgreSQL is away."""

    def __init__(
        self,
        conninfo: str,
        rules: SinkRules | None = None,
        retry_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._conninfo = conninfo
        self._rules = rules or SinkRules()
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._sleep = sleep
        self._conn: psycopg.Connection[Any] | None = None
        self._partitions_kept: tuple[str, float] | None = None  # (UTC day, clock) of the last

    def _connect(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self._conninfo, autocommit=True)
            # Hours are UTC hours (docs/design.md §4): date_trunc follows the session's zone.
            conn.execute("SET TimeZone = 'UTC'")
            # Temp buffers must be sized before the session's first temp table is touched.
            conn.execute("SET temp_buffers = '256MB'")
            # Sorting a batch (first copy of each event_id) in memory, not in temp files.
            conn.execute("SET work_mem = '64MB'")
            # No JIT: these statements run once per batch, and compiling them each time (JIT
            # code is never reused) cost up to a quarter of a second a statement.
            conn.execute("SET jit = off")
            conn.execute(load_sql("merge", "stage"))
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Close the connection (an open transaction is rolled back)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _retrying(self, what: str, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        deadline = self._clock() + self._retry_seconds
        delay = 0.5
        while True:
            try:
                return work(self._connect())
            except _RETRYABLE as exc:
                self.close()
                if self._clock() + delay > deadline:
                    raise SinkError(
                        f"PostgreSQL unreachable for {self._retry_seconds:.0f}s while {what}: "
                        f"{exc}. Start it (./start_infrastructure.sh) and restart the processor; "
                        "the batch is replayed from the checkpoint."
                    ) from exc
                log.warning("PostgreSQL error while %s (%s); retrying in %.1fs", what, exc, delay)
                self._sleep(delay)
                delay = min(delay * 2, 10.0)

    def batch_done(self, query_name: str, batch_id: int) -> bool:
        """True when pipeline_batches already records this batch."""
        params = {"query_name": query_name, "batch_id": batch_id}

        def work(conn: psycopg.Connection[Any]) -> bool:
            row = conn.execute(load_sql("merge", "batch_done"), params).fetchone()
            return bool(row and row[0])

        return self._retrying(f"checking batch {batch_id}", work)

    def check_topic(self, topic: str, topic_id: str | None) -> TopicRecreated | None:
        """The recreation to handle (continue), or None; raise DataLoss for it (fail)."""
        if topic_id is None:
            return None

        def work(conn: psycopg.Connection[Any]) -> set[str]:
            rows = conn.execute(load_sql("merge", "load_progress"), {"topic": topic}).fetchall()
            return {row[3] for row in rows if row[3] is not None}

        return _recreated(
            topic, self._retrying(f"checking topic {topic}", work), topic_id, self._rules
        )

    def record_recreation(self, exc: TopicRecreated, query_name: str | None) -> None:
        """Record a recreated topic in data_gaps and forget its old lateness state."""

        def work(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                conn.execute(
                    load_sql("merge", "insert_gap"),
                    {
                        "topic": exc.topic,
                        "partition": None,
                        "first_missing": None,
                        "next_seen": None,
                        "kind": "topic_recreated",
                        "query_name": query_name,
                        "batch_id": None,
                    },
                )
                conn.execute(load_sql("merge", "reset_progress"), {"topic": exc.topic})

        self._retrying("recording a recreated topic", work)

    def committed_offsets(self, query_name: str, batch_id: int) -> tuple[bool, Any]:
        """(recorded, its end offsets or None) for this batch in pipeline_batches."""
        params = {"query_name": query_name, "batch_id": batch_id}

        def work(conn: psycopg.Connection[Any]) -> tuple[bool, Any]:
            row = conn.execute(load_sql("merge", "batch_offsets"), params).fetchone()
            return (row is not None, row[0] if row else None)

        return self._retrying(f"checking batch {batch_id}", work)

    def write_batch(self, batch: BatchInput) -> BatchResult:
        """Apply one micro-batch in one transaction, or skip it if it is already recorded."""
        rules = self._rules
        self.keep_partitions()
        result = self._retrying(
            f"writing batch {batch.batch_id}", lambda conn: _write(conn, batch, rules)
        )
        if result.new_events:
            self._summarize_time_index()
        return result

    def keep_partitions(self, force: bool = False) -> int | None:
        """Retention: make today's and tomorrow's partitions, drop those older than the rule.

        Runs when the UTC day has changed since it last ran, and at least hourly (a failed
        drop is tried again), in a short transaction of its own that gives up waiting for a
        lock (a dashboard reading the table) after 5 s. Returns the partitions dropped, or None
        when it did not run or gave up (tomorrow's partition exists a day ahead, so the next
        batches still have theirs).
        """
        day, now = datetime.now(UTC).date().isoformat(), self._clock()
        last = self._partitions_kept
        if not force and last is not None and last[0] == day and now - last[1] < 3600:
            return None

        def work(conn: psycopg.Connection[Any]) -> int:
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '5s'")
                row = conn.execute(
                    load_sql("merge", "keep_partitions"), {"days": self._rules.retention_days}
                ).fetchone()
            return int(row[0]) if row else 0

        try:
            if last is None:  # at start the partitions must be there: retried like a batch
                dropped = self._retrying("making raw_events' partitions", work)
            else:
                dropped = work(self._connect())
        except psycopg.errors.LockNotAvailable:
            log.info("retention waited too long for a lock; the next batch tries again")
            return None
        self._partitions_kept = (day, now)
        if dropped:
            log.info(
                "retention: dropped %d partition(s) of raw_events/rejected_events older than "
                "%d days (retention_log)",
                dropped,
                self._rules.retention_days,
            )
        return dropped

    def _summarize_time_index(self) -> None:
        """Index upkeep after a commit; best effort (the next batch, or autovacuum, catches up).

        Outside the batch's transaction, so that its table lock is held for milliseconds and
        never blocks autovacuum for a whole batch; a lock wait gives up after 200 ms.
        """
        try:
            conn = self._connect()
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '200ms'")
                conn.execute(load_sql("merge", "summarize_time_index"))
        except psycopg.Error as exc:
            log.info("raw_events time index not summarized now (%s); later batches will", exc)


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


def merge_new_events(cur: psycopg.Cursor[Any]) -> tuple[int, int]:
    """Merge stage_new's non-late events into the aggregates, empty it; (new events, late)."""
    counts = cur.execute(load_sql("merge", "new_event_counts")).fetchone()
    new_events, late = counts or (0, 0)
    if new_events > late:
        for name in ("merge_sessions", "merge_products", "merge_hours"):
            cur.execute(load_sql("merge", name))
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
class _ChunkTotals:
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
    recreated = _recreated(batch.topic, known, batch.topic_id, rules)
    if recreated is not None:
        raise recreated
    return {
        int(p): PartitionState(int(nxt), None if t is None else _micros(t)) for p, nxt, t, _ in rows
    }


def _recreated(
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


def _write(conn: psycopg.Connection[Any], batch: BatchInput, rules: SinkRules) -> BatchResult:
    key = {"query_name": batch.query_name, "batch_id": batch.batch_id}
    steps = _Steps()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(load_sql("merge", "writer_lock"))
        row = cur.execute(load_sql("merge", "batch_done"), key).fetchone()
        if row and row[0]:
            batch.chunks.drain()
            return BatchResult(skipped=True)
        order = OffsetOrder(load_progress(cur, batch, rules), int(rules.max_lateness_seconds * 1e6))
        totals = _ChunkTotals()

        def ordered() -> Iterator[pa.RecordBatch]:
            for chunk in steps.timed("spark", batch.chunks):
                yield from order.add(recheck(chunk, rules.payload_prefix_bytes))
            yield from order.rest()

        # Each chunk is stored and merged while Spark still computes the next ones (merging
        # per chunk, not once per batch, keeps PostgreSQL busy while Spark is, and the merges
        # give the same rows in any order). Lateness needs each partition's chunks in offset
        # order: a chunk whose predecessors have not arrived waits for them.
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
        steps.lap("store")
        valid_rows, input_rows = totals.valid_rows, totals.input_rows
        new_events, late_rows = totals.new_events, totals.late_rows
        max_event_time, max_kafka_timestamp = totals.max_event_time, totals.max_kafka_timestamp
        if input_rows == 0:
            return BatchResult(skipped=False)
        rejected = cur.execute(load_sql("merge", "insert_rejects")).fetchone()
        rejected_rows = int(rejected[0]) if rejected else 0
        duration_ms = int((time.monotonic() - batch.started_clock) * 1000)
        # Every message is exactly one of: a new event, a duplicate (its event_id, or for a
        # rejection its Kafka position, was already stored) or a newly stored rejection.
        duplicates = input_rows - new_events - rejected_rows
        cur.execute(
            load_sql("merge", "insert_batch"),
            {
                **key,
                "input_rows": input_rows,
                "valid_rows": valid_rows,
                "rejected_rows": rejected_rows,
                "duplicate_rows": duplicates,
                "late_rows": late_rows,
                "max_event_time": max_event_time,
                "started_at": batch.started_at,
                "duration_ms": duration_ms,
                "end_offsets": None if batch.end_offsets is None else Jsonb(batch.end_offsets),
            },
        )
        newest = cur.execute(load_sql("merge", "newest_event_time")).fetchone()
        # The windows are narrow and indexed (BRIN on event_time, B-tree on session_end); with
        # raw_events' statistics missing or stale the planner could still scan it all.
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute(
            load_sql("merge", "refresh_dashboard"),
            {
                "t": newest[0] if newest else None,
                "max_kafka_timestamp": max_kafka_timestamp,
                "duration_ms": duration_ms,
                "input_rows": input_rows,
            },
            # Planned with this t every time: a prepared (generic) plan would not know it.
            prepare=False,
        )
    steps.lap("commit")
    return BatchResult(
        False,
        new_events,
        duplicates,
        late_rows,
        rejected_rows,
        input_rows,
        duration_ms,
        steps.laps,
        max_kafka_timestamp,
    )


_END = object()


class _Steps:
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
