"""One micro-batch in (Arrow tables), one PostgreSQL transaction out: the commit rule lives here.

The sink owns the connection (session settings, staging tables), retries lost connections with
backoff (the batch is then redone from the start in a fresh transaction), and the commit rule:
holding the schema's writer lock, a batch already in pipeline_batches is skipped, so a replay
after a crash changes nothing; otherwise the batch's chunks are stored and merged
(processor/chunks.py), then its rejections, its pipeline_batches row and dashboard_metrics, all
in the one transaction. Retention (whole days of raw_events and rejected_events) runs at start
and once a day, between batches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from psycopg.types.json import Jsonb

from processor.chunks import (
    BatchInput,
    ChunkTotals,
    Counts,
    SinkRules,
    Steps,
    TopicRecreated,
    recreated_topic,
    store_chunks,
)
from processor.settings import ProcessorError
from processor.sql import load_sql

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRYABLE = (psycopg.OperationalError, psycopg.errors.SerializationFailure)


class SinkError(ProcessorError):
    """PostgreSQL stayed unreachable or refused a batch; the message says what to do."""


@dataclass(frozen=True)
class BatchResult:
    """What the transaction did (skipped: it was committed before), and how long it took."""

    skipped: bool
    counts: Counts = field(default_factory=Counts)
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

        return recreated_topic(
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
        if result.counts.new_events:
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


def _write(conn: psycopg.Connection[Any], batch: BatchInput, rules: SinkRules) -> BatchResult:
    """The commit rule: under the writer lock, a batch recorded already is skipped; otherwise
    its chunks (processor/chunks.py), its rejections, its ledger row and the dashboard commit
    together or not at all."""
    key = {"query_name": batch.query_name, "batch_id": batch.batch_id}
    steps = Steps()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(load_sql("merge", "writer_lock"))
        row = cur.execute(load_sql("merge", "batch_done"), key).fetchone()
        if row and row[0]:
            batch.chunks.drain()
            return BatchResult(skipped=True)
        totals = store_chunks(cur, batch, rules, steps)
        steps.lap("store")
        if totals.input_rows == 0:
            return BatchResult(skipped=False)
        rejected = cur.execute(load_sql("merge", "insert_rejects")).fetchone()
        counts = Counts(
            messages=totals.input_rows,
            new_events=totals.new_events,
            rejected=int(rejected[0]) if rejected else 0,
            late=totals.late_rows,
        )
        counts.duplicates = counts.messages - counts.new_events - counts.rejected
        duration_ms = int((time.monotonic() - batch.started_clock) * 1000)
        cur.execute(
            load_sql("merge", "insert_batch"),
            {
                **key,
                "input_rows": counts.messages,
                "valid_rows": totals.valid_rows,
                "rejected_rows": counts.rejected,
                "duplicate_rows": counts.duplicates,
                "late_rows": counts.late,
                "max_event_time": totals.max_event_time,
                "started_at": batch.started_at,
                "duration_ms": duration_ms,
                "end_offsets": None if batch.end_offsets is None else Jsonb(batch.end_offsets),
            },
        )
        steps.lap("ledger")
        _refresh_dashboard(cur, totals, counts, duration_ms)
        steps.lap("dashboard")
    steps.lap("commit")
    return BatchResult(
        skipped=False,
        counts=counts,
        duration_ms=duration_ms,
        steps_ms=steps.laps,
        max_kafka_timestamp=totals.max_kafka_timestamp,
    )


def _refresh_dashboard(
    cur: psycopg.Cursor[Any], totals: ChunkTotals, counts: Counts, duration_ms: int
) -> None:
    """dashboard_metrics as of the newest stored event time, in the batch's transaction."""
    newest = cur.execute(load_sql("merge", "newest_event_time")).fetchone()
    # The windows are narrow and indexed (BRIN on event_time, B-tree on session_end); with
    # raw_events' statistics missing or stale the planner could still scan it all.
    cur.execute("SET LOCAL enable_seqscan = off")
    cur.execute(
        load_sql("merge", "refresh_dashboard"),
        {
            "t": newest[0] if newest else None,
            "max_kafka_timestamp": totals.max_kafka_timestamp,
            "duration_ms": duration_ms,
            "input_rows": counts.messages,
        },
        # Planned with this t every time: a prepared (generic) plan would not know it.
        prepare=False,
    )
