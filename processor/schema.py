"""The event's explicit schema (docs/design.md §3) and the column layouts that flow to PostgreSQL.

Parsing uses two views of one JSON object: TYPED_SCHEMA (the types we store) and, only for
records Spark could not convert, TEXT_SCHEMA (every field as text) to name the offending field.
"""

from __future__ import annotations

from pyspark.sql import types as T

import contract

CORRUPT_COLUMN = "_corrupt_record"

# The enums and bounds are the contract's (contract/event.schema.json).
EVENT_TYPES = contract.EVENT_TYPES
DEVICE_TYPES = contract.DEVICE_TYPES

# JSON field -> Spark type as parsed. Money is parsed as a double (a JSON string is then a type
# error, unlike with DecimalType) and checked for at most two decimals before it becomes a decimal.
JSON_FIELDS: dict[str, T.DataType] = {
    "event_id": T.StringType(),
    "event_type": T.StringType(),
    "timestamp": T.StringType(),
    "user_id": T.StringType(),
    "session_id": T.StringType(),
    "product_id": T.StringType(),
    "page_url": T.StringType(),
    "user_agent": T.StringType(),
    "ip_address": T.StringType(),
    "device_type": T.StringType(),
    "price": T.DoubleType(),
    "quantity": T.LongType(),
    "order_id": T.StringType(),
    "category": T.StringType(),
    "referrer": T.StringType(),
    "country": T.StringType(),
    # The ab-test scenario's fields: raw_events.experiment / variant, and the session's.
    "experiment": T.StringType(),
    "variant": T.StringType(),
}

# Text fields that no format check would catch holding a JSON number or boolean (Spark reads
# any JSON value as text for a string field): parse.py flags them for the strict check.
FREE_TEXT_FIELDS = (
    "event_type",
    "page_url",
    "user_agent",
    "device_type",
    "category",
    "referrer",
    "country",
    "experiment",
    "variant",
)
NUMBER_FIELDS = ("price", "quantity")

# Present (and not null) in every valid event. user_agent and ip_address may be absent (raw_events
# allows null) but are checked when present; price, quantity, product_id and order_id are
# required by event type (parse.py).
REQUIRED_FIELDS = contract.REQUIRED_FIELDS
UUID_FIELDS = ("event_id", "user_id", "session_id", "product_id", "order_id")

TYPED_SCHEMA = T.StructType(
    [T.StructField(name, dtype) for name, dtype in JSON_FIELDS.items()]
    + [T.StructField(CORRUPT_COLUMN, T.StringType())]
)
TEXT_SCHEMA = T.StructType([T.StructField(name, T.StringType()) for name in JSON_FIELDS])

PRICE_TYPE = T.DecimalType(12, 2)
MAX_PRICE = float(contract.MAX_PRICE)
MAX_QUANTITY = contract.MAX_QUANTITY

# A valid event as parse leaves it (raw_events' order, without is_late and processed_at).
EVENT_COLUMNS = (
    "event_id",
    "event_type",
    "event_time",
    "user_id",
    "session_id",
    "product_id",
    "page_url",
    "user_agent",
    "ip_address",
    "device_type",
    "price",
    "quantity",
    "order_id",
    "category",
    "referrer",
    "country",
    "experiment",
    "variant",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
)

# What a chunk copies into raw_events (processed_at is the transaction's time), and into
# stage_new for the merges; encode.prepare_events adds is_late and hour.
STORED_COLUMNS = (*EVENT_COLUMNS, "is_late", "kafka_topic_id")
NEW_EVENT_COLUMNS = (
    "event_id",
    "event_type",
    "event_time",
    "hour",
    "user_id",
    "session_id",
    "product_id",
    "device_type",
    "price",
    "quantity",
    "order_id",
    "category",
    # merge_sessions.sql: the session's first event gives its bot flag (processor/bots.py
    # bot_flags() of its user agent, added by chunks.store_events) and experiment and variant.
    "is_bot",
    "experiment",
    "variant",
    "is_late",
)

# A rejected message, in rejected_events' column order (minus id and rejected_at).
REJECT_COLUMNS = (
    "raw_payload",
    "payload_bytes",
    "payload_sha256",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
    "reason",
)
