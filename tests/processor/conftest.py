"""Helpers for the processor's Spark tests: Kafka-shaped DataFrames from hand-made messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from tests.processor.sample_events import dumps

KAFKA_SCHEMA = T.StructType(
    [
        T.StructField("key", T.BinaryType()),
        T.StructField("value", T.BinaryType()),
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("timestamp", T.TimestampType()),
        T.StructField("timestampType", T.IntegerType()),
    ]
)
KAFKA_TIME = datetime(2025, 8, 19, 18, 0, tzinfo=UTC)


def kafka_frame(spark: SparkSession, messages: Sequence[Any], first_offset: int = 0) -> DataFrame:
    """A DataFrame shaped like Spark's Kafka source: dicts become JSON, str/bytes go as is."""
    rows = []
    for offset, message in enumerate(messages, start=first_offset):
        if isinstance(message, dict):
            value: bytes | None = dumps(message).encode()
        elif isinstance(message, str):
            value = message.encode()
        else:
            value = message
        rows.append((None, value, "t", 0, offset, KAFKA_TIME + timedelta(seconds=offset), 0))
    return spark.createDataFrame(rows, KAFKA_SCHEMA)


@pytest.fixture
def frame(spark: SparkSession):
    """kafka_frame bound to the session's SparkSession."""
    return lambda messages: kafka_frame(spark, messages)
