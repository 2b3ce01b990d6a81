"""One micro-batch in (Arrow tables), one PostgreSQL transaction out: the commit rule lives here.

Inside a single transaction: store the new events (raw_events' primary key is the truth about
duplicates), merge the partial aggregates of only the new, non-late events, store rejections,
record the batch in pipeline_batches and refresh dashboard_metrics. A batch already in
pipeline_batches is skipped, so a replay after a crash changes nothing. Lost connections
(PostgreSQL restarting) are retried with backoff; the batch is then redone from the start.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from processor.schema import (
    EVENT_COLUMNS,
    HOUR_PARTIAL_COLUMNS,
    PRODUCT_PARTIAL_COLUMNS,
    REJECT_COLUMNS,
    SESSION_PARTIAL_COLUMNS,
)
from processor.settings import ProcessorError
from processor.sql import load_sql

log = logging.getLogger(__name__)
T = TypeVar("T")

_CSV = pacsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=8192)
_RETRYABLE = (psycopg.OperationalError, psycopg.errors.SerializationFailure)


class SinkError(ProcessorError):
    """PostgreSQL stayed unreachable or refused a batch; the message says what to do."""


@dataclass(frozen=True)
class Partials:
    """The per-batch partial aggregates as Arrow tables, array columns as PostgreSQL literals."""

    sessions: pa.Table
    products: pa.Table
    hours: pa.Table


PartialsFor = Callable[[Sequence[str]], Partials]


@dataclass(frozen=True)
class BatchInput:
    """What one micro-batch hands to the sink: deduplicated events, rejections and counts."""

    query_name: str
    batch_id: int
    started_at: datetime
    started_clock: float
    events: pa.Table
    rejects: pa.Table
    input_rows: int
    valid_rows: int
    max_event_time: datetime | None
    max_kafka_timestamp: datetime | None


@dataclass(frozen=True)
class BatchResult:
    """What the transaction did: stored events, duplicates, late events, stored rejections."""

    skipped: bool
    new_events: int = 0
    duplicate_rows: int = 0
    late_rows: int = 0
    rejected_rows: int = 0
    duration_ms: int = 0


def copy_arrow(
    cur: psycopg.Cursor[Any], table: str, columns: Sequence[str], data: pa.Table
) -> None:
    """COPY an Arrow table into `table` as CSV (nulls unquoted, strings quoted)."""
    if data.num_rows == 0:
        return
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with cur.copy(statement) as copy:
        for chunk in data.select(list(columns)).to_batches(max_chunksize=50_000):
            buffer = io.BytesIO()
            pacsv.write_csv(chunk, buffer, _CSV)
            copy.write(buffer.getbuffer())


class PostgresSink:
    """Writes micro-batches transactionally; reconnects and retries while PostgreSQL is away."""

    def __init__(
        self,
        conninfo: str,
        retry_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._conninfo = conninfo
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._sleep = sleep
        self._conn: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self._conninfo, autocommit=True)
            # Temp buffers must be sized before the session's first temp table is touched.
            conn.execute("SET temp_buffers = '256MB'")
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

    def newest_event_time(self) -> datetime | None:
        """The newest event time of all committed batches (None before the first)."""

        def work(conn: psycopg.Connection[Any]) -> datetime | None:
            row = conn.execute(load_sql("merge", "newest_event_time")).fetchone()
            return row[0] if row else None

        return self._retrying("reading the newest event time", work)

    def write_batch(self, batch: BatchInput, partials_for: PartialsFor) -> BatchResult:
        """Apply one micro-batch in one transaction, or skip it if it is already recorded."""
        return self._retrying(
            f"writing batch {batch.batch_id}", lambda conn: _write(conn, batch, partials_for)
        )


def _write(
    conn: psycopg.Connection[Any], batch: BatchInput, partials_for: PartialsFor
) -> BatchResult:
    key = {"query_name": batch.query_name, "batch_id": batch.batch_id}
    with conn.transaction(), conn.cursor() as cur:
        row = cur.execute(load_sql("merge", "batch_done"), key).fetchone()
        if row and row[0]:
            return BatchResult(skipped=True)
        copy_arrow(cur, "stage_events", EVENT_COLUMNS, batch.events)
        new_events, late_rows = cur.execute(load_sql("merge", "insert_events")).fetchone() or (0, 0)
        existing: list[str] = []
        if new_events < batch.events.num_rows:
            existing = [r[0] for r in cur.execute(load_sql("merge", "existing_events"))]
        partials = partials_for(existing)
        copy_arrow(cur, "stage_sessions", SESSION_PARTIAL_COLUMNS, partials.sessions)
        copy_arrow(cur, "stage_products", PRODUCT_PARTIAL_COLUMNS, partials.products)
        copy_arrow(cur, "stage_hours", HOUR_PARTIAL_COLUMNS, partials.hours)
        for name in ("merge_sessions", "merge_products", "merge_hours"):
            cur.execute(load_sql("merge", name))
        copy_arrow(cur, "stage_rejects", REJECT_COLUMNS, batch.rejects)
        rejected = cur.execute(load_sql("merge", "insert_rejects")).fetchone()
        rejected_rows = int(rejected[0]) if rejected else 0
        duration_ms = int((time.monotonic() - batch.started_clock) * 1000)
        duplicates = batch.valid_rows - new_events
        cur.execute(
            load_sql("merge", "insert_batch"),
            {
                **key,
                "input_rows": batch.input_rows,
                "valid_rows": batch.valid_rows,
                "rejected_rows": rejected_rows,
                "duplicate_rows": duplicates,
                "late_rows": late_rows,
                "max_event_time": batch.max_event_time,
                "started_at": batch.started_at,
                "duration_ms": duration_ms,
            },
        )
        cur.execute(
            load_sql("merge", "refresh_dashboard"),
            {
                "max_kafka_timestamp": batch.max_kafka_timestamp,
                "duration_ms": duration_ms,
                "input_rows": batch.input_rows,
            },
        )
    return BatchResult(False, new_events, duplicates, late_rows, rejected_rows, duration_ms)
