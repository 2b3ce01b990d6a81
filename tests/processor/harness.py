"""Drive the real foreachBatch handler with hand-made messages, without Kafka or streaming.

Each `run` is one micro-batch: messages -> Kafka-shaped DataFrame -> MicroBatchHandler ->
one PostgreSQL transaction in a scratch schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from pyspark.sql import SparkSession

from infra.env import load_env
from processor.batch import MicroBatchHandler
from processor.chunks import SinkRules
from processor.settings import ProcessorSettings
from processor.sink import PostgresSink
from processor.verify import run_checks
from tests.processor.conftest import kafka_frame


def settings_for(schema: str, env: dict[str, str] | None = None) -> ProcessorSettings:
    """Processor settings pointing at a scratch schema."""
    merged = {**(env or load_env()), "POSTGRES_SCHEMA": schema}
    return ProcessorSettings.from_env(merged)


class Harness:
    """One query's batches into one schema; offsets continue from batch to batch."""

    def __init__(
        self,
        spark: SparkSession,
        schema: str,
        lateness_seconds: float = 3600.0,
        query_id: str = "q1",
        topic: str = "t",
    ) -> None:
        self.spark = spark
        self.settings = settings_for(schema)
        self.sink = PostgresSink(
            self.settings.pg_conninfo(), SinkRules(max_lateness_seconds=lateness_seconds), 30.0
        )
        self.handler = MicroBatchHandler(self.sink, topic)
        self.handler.set_query_id(query_id)
        self.next_offset = 0
        self.next_batch = 0

    def run(
        self,
        messages: Sequence[Any],
        batch_id: int | None = None,
        first_offset: int | None = None,
    ) -> None:
        """Process one micro-batch of messages (fresh offsets unless given)."""
        offset = self.next_offset if first_offset is None else first_offset
        frame = kafka_frame(self.spark, messages, offset)
        self.next_offset = max(self.next_offset, offset + len(messages))
        batch = self.next_batch if batch_id is None else batch_id
        self.next_batch = max(self.next_batch, batch + 1)
        self.handler(frame, batch)

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query in the scratch schema, as dicts (uuids as text)."""
        with psycopg.connect(self.settings.pg_conninfo(), row_factory=dict_row) as conn:
            rows = conn.execute(query, params).fetchall()  # type: ignore[arg-type]
        return [{k: str(v) if isinstance(v, UUID) else v for k, v in r.items()} for r in rows]

    def table(self, name: str, order_by: str, columns: str = "*") -> list[dict[str, Any]]:
        """A whole table (selected columns), ordered."""
        return self.rows(f"SELECT {columns} FROM {name} ORDER BY {order_by}")

    def differences(self) -> list[str]:
        """What processor.verify reports (empty when every table matches raw_events)."""
        _, found = run_checks(self.settings.pg_conninfo())
        return [str(d) for d in found]

    def close(self) -> None:
        """Close the sink's connection."""
        self.sink.close()
