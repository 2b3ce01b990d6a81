"""Kafka records in, checked records out: every message becomes one row with a `reason`.

`reason` is null for a valid event and short and specific otherwise (`invalid_json`,
`missing_field:user_id`, `bad_type:price`, `unknown_event_type`, `negative_price`, ...).
Rejections are data: they flow on to rejected_events, never raised through the stream.
Everything PostgreSQL would refuse (a malformed uuid, inet or timestamp, a NUL character,
invalid UTF-8, an out-of-range number) is rejected here, so a batch's COPY cannot fail on data.
"""

from __future__ import annotations

import functools

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from processor.schema import (
    CORRUPT_COLUMN,
    DEVICE_TYPES,
    EVENT_TYPES,
    JSON_FIELDS,
    MAX_PRICE,
    MAX_QUANTITY,
    PRICE_TYPE,
    REQUIRED_FIELDS,
    TEXT_SCHEMA,
    TYPED_SCHEMA,
    UUID_FIELDS,
)

# Java regexes; \z (not $) so that a trailing newline cannot slip through to PostgreSQL.
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_OCTET = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_H = "[0-9a-fA-F]{1,4}"
_IP = (
    rf"({_OCTET}\.){{3}}{_OCTET}|({_H}:){{7}}{_H}|({_H}:){{1,7}}:|({_H}:){{1,6}}:{_H}"
    rf"|({_H}:){{1,5}}(:{_H}){{1,2}}|({_H}:){{1,4}}(:{_H}){{1,3}}|({_H}:){{1,3}}(:{_H}){{1,4}}"
    rf"|({_H}:){{1,2}}(:{_H}){{1,5}}|{_H}:(:{_H}){{1,6}}|:((:{_H}){{1,7}}|:)"
)
UUID_RE = rf"^{_UUID}\z"
IP_RE = rf"^(?:{_IP})\z"
# The JSON escape for U+0000: PostgreSQL text cannot hold that character.
NUL_ESCAPE = "\\u0000"
SOURCE_COLUMNS = ("payload", "kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp")

# Checked when present. The timestamp is checked by parsing it (see `ts`), not by a regex:
# validation is the bulk of parsing's cost, and a regex per field is what it costs.
FORMATS: dict[str, str] = {**dict.fromkeys(UUID_FIELDS, UUID_RE), "ip_address": IP_RE}
_BODIES: dict[str, str] = {**dict.fromkeys(UUID_FIELDS, _UUID), "ip_address": _IP}


def _formats_check(j: Column) -> Column:
    """The first field of FORMATS that is present and malformed, as a reason.

    One regex over all the fields joined by `|` (a character none of the formats allows)
    decides for almost every message; only a message it rejects is checked field by field, to
    name the field. A regex call costs a string conversion and a matcher, whatever its length.
    """
    joined = F.concat_ws("|", *[F.coalesce(j[name], F.lit("")) for name in FORMATS])
    # An absent field joins as "" and may match empty; a present "" is malformed (below).
    pattern = "^" + r"\|".join(f"(?:{_BODIES[name]})?" for name in FORMATS) + r"\z"
    any_empty = F.lit(False)
    for name in FORMATS:
        any_empty = any_empty | (j[name] == "")
    by_field = F.coalesce(
        *[
            F.when(j[name].isNotNull() & ~j[name].rlike(p), F.lit(f"bad_type:{name}"))
            for name, p in FORMATS.items()
        ]
    )
    return F.when(~joined.rlike(pattern) | any_empty, by_field)


def _reason_checks(j: Column, text: Column, ts: Column, payload: Column) -> list[Column]:
    """Ordered (first match wins) reason expressions for one parsed message."""
    corrupt = j[CORRUPT_COLUMN].isNotNull()
    unparsed = j.isNull() | corrupt
    checks: list[Column] = [
        # Equality, not length(): counting characters walks every byte of every payload.
        F.when(payload.isNull() | (payload == ""), F.lit("empty_payload")),
        # Only unparsed records can be invalid UTF-8: Spark's JSON reader replaces bad bytes
        # inside strings, which leaves them storable.
        F.when(unparsed & ~F.is_valid_utf8(payload), F.lit("invalid_utf8")),
        F.when(
            j.isNull() | (corrupt & F.json_object_keys(payload).isNull()), F.lit("invalid_json")
        ),
        F.when(payload.contains(NUL_ESCAPE), F.lit("nul_character")),
    ]
    checks += [
        F.when(j[name].isNull() & text[name].isNull(), F.lit(f"missing_field:{name}"))
        for name in REQUIRED_FIELDS
    ]
    # A JSON type Spark could not convert: only ever true for corrupt records (text is null else).
    checks += [
        F.when(j[name].isNull() & text[name].isNotNull(), F.lit(f"bad_type:{name}"))
        for name in JSON_FIELDS
    ]
    checks.append(_formats_check(j))
    checks.append(F.when(j["timestamp"].isNotNull() & ts.isNull(), F.lit("bad_type:timestamp")))
    event_type, price, quantity = j["event_type"], j["price"], j["quantity"]
    is_cart_or_purchase = event_type.isin("add_to_cart", "purchase")
    is_purchase = event_type == "purchase"
    cents = price * 100
    checks += [
        F.when(~event_type.isin(*EVENT_TYPES), F.lit("unknown_event_type")),
        F.when(~j["device_type"].isin(*DEVICE_TYPES), F.lit("bad_value:device_type")),
        F.when(F.trim(j["page_url"]) == "", F.lit("bad_value:page_url")),
        F.when(is_cart_or_purchase & j["product_id"].isNull(), F.lit("missing_field:product_id")),
        F.when(is_cart_or_purchase & price.isNull(), F.lit("missing_field:price")),
        F.when(is_cart_or_purchase & quantity.isNull(), F.lit("missing_field:quantity")),
        F.when(is_purchase & j["order_id"].isNull(), F.lit("missing_field:order_id")),
        F.when(F.isnan(price) | (F.abs(price) > MAX_PRICE), F.lit("bad_value:price")),
        F.when(price < 0, F.lit("negative_price")),
        F.when(F.abs(cents - F.round(cents)) > 1e-6, F.lit("bad_value:price")),
        F.when((quantity < 1) | (quantity > MAX_QUANTITY), F.lit("bad_quantity")),
    ]
    return checks


def parse_messages(messages: DataFrame) -> DataFrame:
    """Turn Kafka source rows into checked rows: typed event columns, Kafka position, `reason`."""
    # Classic PySpark columns live in the JVM: keep them no longer than its SparkContext.
    # (Spark Connect columns are plain Python objects, valid in any session.)
    jvm = messages.sparkSession.sparkContext if hasattr(messages, "_jdf") else None
    checked = messages
    for columns in _parse_steps(jvm):
        checked = checked.select(*columns)
    return checked


@functools.lru_cache(maxsize=1)
def _parse_steps(jvm: object) -> tuple[tuple[Column, ...], ...]:
    """The column lists parse_messages selects, one after the other, built once per JVM.

    Building them costs hundreds of calls into the JVM (half a second per micro-batch); the
    columns name no DataFrame, so every batch's messages can reuse them. `jvm` is only the
    cache key.
    """
    del jvm
    payload = F.col("payload")
    source = (
        F.col("value").cast("string").alias("payload"),
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
    )
    kept = tuple(F.col(name) for name in SOURCE_COLUMNS)
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_COLUMN}
    with_json = (*kept, F.from_json(payload, TYPED_SCHEMA, options).alias("j"))
    j = F.col("j")
    # The text view is parsed again only for records Spark could not convert to TYPED_SCHEMA.
    with_text = (
        *kept,
        j,
        F.when(j[CORRUPT_COLUMN].isNotNull(), F.from_json(payload, TEXT_SCHEMA)).alias("t"),
        j["timestamp"].try_cast("timestamp").alias("ts"),
    )
    checks = _reason_checks(j, F.col("t"), F.col("ts"), payload)
    checked = (*kept, j, F.col("ts"), F.coalesce(*checks).alias("reason"))
    valid = F.col("reason").isNull()

    def field(name: str) -> Column:
        # Identifiers keep their case here: PostgreSQL's uuid type reads either case and
        # stores one form, so `ABC...` and `abc...` are one event_id there.
        return j[name].alias(name)

    result = (
        field("event_id"),
        field("event_type"),
        F.when(valid, F.col("ts")).alias("event_time"),
        field("user_id"),
        field("session_id"),
        field("product_id"),
        field("page_url"),
        field("user_agent"),
        field("ip_address"),
        field("device_type"),
        F.when(valid, j["price"].try_cast(PRICE_TYPE)).alias("price"),
        F.when(valid, j["quantity"].try_cast("int")).alias("quantity"),
        field("order_id"),
        field("category"),
        field("referrer"),
        field("country"),
        # Only rejections store their topic: one string fewer per valid row to ship.
        F.when(~valid, F.col("kafka_topic")).alias("kafka_topic"),
        F.col("kafka_partition"),
        F.col("kafka_offset"),
        F.col("kafka_timestamp"),
        # Only rejections keep their payload, made storable: valid UTF-8 and no NUL character.
        F.when(~valid, F.regexp_replace(F.make_valid_utf8(payload), "\\x00", "\ufffd")).alias(
            "raw_payload"
        ),
        F.col("reason"),
    )
    return source, with_json, with_text, checked, result


def valid_events(checked: DataFrame) -> DataFrame:
    """The rows of `parse_messages` that are valid events."""
    return checked.where(F.col("reason").isNull())


def rejections(checked: DataFrame) -> DataFrame:
    """The rows of `parse_messages` that are rejected, in rejected_events' shape."""
    return checked.where(F.col("reason").isNotNull()).select(
        "raw_payload", "kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp", "reason"
    )
