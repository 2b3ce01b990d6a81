"""Kafka records in, checked records out: every message becomes one row with a `reason`.

`reason` is null for a valid event and short and specific otherwise (`invalid_json`,
`missing_field:user_id`, `bad_type:price`, `unknown_event_type`, `timestamp_in_future`, ...).
Rejections are data: they flow on to rejected_events, never raised through the stream.
Everything PostgreSQL would refuse (a malformed uuid, inet or timestamp, a NUL character,
invalid UTF-8, an out-of-range number) is rejected here, so a batch's COPY cannot fail on data.

Spark's JSON reader is lenient where it is cheap to be strict: it reads the first object of
`{...} xyz` or `{a}{b}` and stringifies objects in text fields. Such messages are rare and look
different (a `{` after the first character, a `[`, no `}` at the end, a NaN): parse keeps their
payload, and processor/strict.py checks them with a strict JSON parser on the driver.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from processor.schema import (
    CORRUPT_COLUMN,
    DEVICE_TYPES,
    EVENT_TYPES,
    FREE_TEXT_FIELDS,
    JSON_FIELDS,
    MAX_PRICE,
    MAX_QUANTITY,
    PRICE_TYPE,
    REJECT_COLUMNS,
    REQUIRED_FIELDS,
    TEXT_SCHEMA,
    TYPED_SCHEMA,
    UUID_FIELDS,
)
from processor.strict import recheck

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
BLANK = " \t\n\r"  # JSON's white space: a page_url of only these is blank (the contract)
# A price written with more than two decimals or with an exponent (only prices need it).
PRICE_DIGITS = r'"price"\s*:\s*-?[0-9]+(\.[0-9]{3}|[.0-9]*[eE])'
SOURCE_COLUMNS = ("payload", "kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp")

# RFC 3339 with an explicit zone, and nothing else: no date alone, no time alone, no zone names.
_TS = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})"
TIMESTAMP_RE = rf"^{_TS}\z"
# Event times before this are impossible for a shop clickstream (and guard every consumer that
# cannot hold far-away years: Python's datetime, PostgreSQL's timestamptz).
EVENT_TIME_FLOOR = datetime(2000, 1, 1, tzinfo=UTC)
# A Kafka timestamp outside this range is not a real message time (Python cannot hold it).
KAFKA_TIME_RANGE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC))

# Checked when present, all in one regex call (see _formats_check): validation is the bulk of
# parsing's cost, and a regex call per field is what it costs. The timestamp's calendar
# validity is checked by casting it (see `ts`).
FORMATS: dict[str, str] = {
    **dict.fromkeys(UUID_FIELDS, UUID_RE),
    "ip_address": IP_RE,
    "timestamp": TIMESTAMP_RE,
}
_BODIES: dict[str, str] = {**dict.fromkeys(UUID_FIELDS, _UUID), "ip_address": _IP, "timestamp": _TS}


@dataclass(frozen=True)
class ParseRules:
    """The configurable bounds of validation (PROCESSOR_MAX_FUTURE, PROCESSOR_MAX_MESSAGE_BYTES,
    PROCESSOR_REJECT_PAYLOAD_BYTES)."""

    max_future_seconds: float = 300.0
    max_message_bytes: int = 1_048_576
    payload_prefix_bytes: int = 4096


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


def _reason_checks(
    j: Column, text: Column, ts: Column, payload: Column, rules: ParseRules
) -> list[Column]:
    """Ordered (first match wins) reason expressions for one parsed message."""
    corrupt = j[CORRUPT_COLUMN].isNotNull()
    unparsed = j.isNull() | corrupt
    size, kafka_ts = F.col("payload_bytes"), F.col("kafka_timestamp")
    low, high = KAFKA_TIME_RANGE
    future_micros = int(rules.max_future_seconds * 1_000_000)
    checks: list[Column] = [
        # Too large to parse or keep whole: never parsed (payload is null for it).
        F.when(size > rules.max_message_bytes, F.lit("oversized_message")),
        F.when(size.isNull() | (size == 0), F.lit("empty_payload")),
        F.when(
            kafka_ts.isNull() | (kafka_ts < F.lit(low)) | (kafka_ts >= F.lit(high)),
            F.lit("bad_kafka_timestamp"),
        ),
        # Only unparsed records can be invalid UTF-8: Spark's JSON reader replaces bad bytes
        # inside strings, which leaves them storable.
        F.when(unparsed & ~F.is_valid_utf8(payload), F.lit("invalid_utf8")),
        # A record Spark could not convert, whose text view holds none of the fields either,
        # is not a JSON object at all (strict: single quotes are not JSON).
        F.when(
            j.isNull() | (corrupt & F.coalesce(*[text[n] for n in JSON_FIELDS]).isNull()),
            F.lit("invalid_json"),
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
    checks += [
        F.when(j["timestamp"].isNotNull() & ts.isNull(), F.lit("bad_type:timestamp")),
        F.when(ts < F.lit(EVENT_TIME_FLOOR), F.lit("timestamp_too_old")),
        # Later than the message itself (plus a clock-skew tolerance): a clock far ahead, or a
        # date in 9999, would otherwise make every later event late (the watermark jumps).
        F.when(
            F.unix_micros(ts) > F.unix_micros(kafka_ts) + F.lit(future_micros),
            F.lit("timestamp_in_future"),
        ),
    ]
    event_type, price, quantity = j["event_type"], j["price"], j["quantity"]
    is_cart_or_purchase = event_type.isin("add_to_cart", "purchase")
    is_purchase = event_type == "purchase"
    cents = price * 100
    checks += [
        F.when(~event_type.isin(*EVENT_TYPES), F.lit("unknown_event_type")),
        F.when(~j["device_type"].isin(*DEVICE_TYPES), F.lit("bad_value:device_type")),
        F.when(F.btrim(j["page_url"], F.lit(BLANK)) == "", F.lit("bad_value:page_url")),
        F.when(is_cart_or_purchase & j["product_id"].isNull(), F.lit("missing_field:product_id")),
        F.when(is_cart_or_purchase & price.isNull(), F.lit("missing_field:price")),
        F.when(is_cart_or_purchase & quantity.isNull(), F.lit("missing_field:quantity")),
        F.when(is_purchase & j["order_id"].isNull(), F.lit("missing_field:order_id")),
        # Only a purchase carries an order (contract/event.schema.json).
        F.when(
            event_type.isin("page_view", "add_to_cart") & j["order_id"].isNotNull(),
            F.lit("unexpected_field:order_id"),
        ),
        F.when(F.isnan(price) | (F.abs(price) > MAX_PRICE), F.lit("bad_value:price")),
        F.when(price < 0, F.lit("negative_price")),
        F.when(F.abs(cents - F.round(cents)) > 1e-6, F.lit("bad_value:price")),
        F.when((quantity < 1) | (quantity > MAX_QUANTITY), F.lit("bad_quantity")),
    ]
    return checks


def parse_messages(messages: DataFrame, rules: ParseRules | None = None) -> DataFrame:
    """Turn Kafka source rows into checked rows: typed event columns, Kafka position, `reason`.

    Rows whose payload is kept although `reason` is null are suspicious for strict JSON; the
    driver decides them (processor/strict.py).
    """
    # Classic PySpark columns live in the JVM: keep them no longer than its SparkContext.
    # (Spark Connect columns are plain Python objects, valid in any session.)
    jvm = messages.sparkSession.sparkContext if hasattr(messages, "_jdf") else None
    checked = messages
    for columns in _parse_steps(jvm, rules or ParseRules()):
        checked = checked.select(*columns)
    return checked


@functools.lru_cache(maxsize=4)
def _parse_steps(jvm: object, rules: ParseRules) -> tuple[tuple[Column, ...], ...]:
    """The column lists parse_messages selects, one after the other, built once per JVM.

    Building them costs hundreds of calls into the JVM (half a second per micro-batch); the
    columns name no DataFrame, so every batch's messages can reuse them. `jvm` is only the
    cache key.
    """
    del jvm
    payload = F.col("payload")
    value, size = F.col("value"), F.octet_length(F.col("value"))
    source = (
        value,
        # An oversized message is never decoded or parsed: only its size, hash and a prefix.
        F.when(size <= rules.max_message_bytes, value.cast("string")).alias("payload"),
        size.cast("long").alias("payload_bytes"),
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
    )
    kept = (F.col("value"), *(F.col(name) for name in (*SOURCE_COLUMNS, "payload_bytes")))
    strict = {"allowSingleQuotes": "false"}
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_COLUMN, **strict}
    with_json = (*kept, F.from_json(payload, TYPED_SCHEMA, options).alias("j"))
    j = F.col("j")
    # The text view is parsed again only for records Spark could not convert to TYPED_SCHEMA.
    with_text = (
        *kept,
        j,
        F.when(j[CORRUPT_COLUMN].isNotNull(), F.from_json(payload, TEXT_SCHEMA, strict)).alias("t"),
        j["timestamp"].try_cast("timestamp").alias("ts"),
    )
    checks = _reason_checks(j, F.col("t"), F.col("ts"), payload, rules)
    checked = (*kept, j, F.col("ts"), F.coalesce(*checks).alias("reason"))
    valid = F.col("reason").isNull()
    # Cheap signs that strict JSON might say otherwise than Spark's lenient reader (see the
    # module's docstring); each is a byte search, not a parse.
    # A text field Spark would take from a number or boolean: not written as `"name":"` (the
    # compact form every producer of ours writes; other spellings are checked strictly too).
    not_quoted = [
        j[name].isNotNull() & ~payload.contains(f'"{name}":"') for name in FREE_TEXT_FIELDS
    ]
    suspicious = (
        (F.locate("{", payload, 2) > 0)
        | payload.contains("[")
        | (F.substring(payload, -1, 1) != "}")
        | ~payload.startswith("{")
        | payload.contains("NaN")
        | payload.contains("Infinity")
        | functools.reduce(operator.or_, not_quoted)
        # A price a double cannot tell from a whole cent (19.990000001): its text decides.
        | (j["price"].isNotNull() & payload.rlike(PRICE_DIGITS))
    )
    suspicious = F.coalesce(suspicious, F.lit(False))
    kept_payload = ~valid | suspicious
    prefix = F.substring(value, 1, rules.payload_prefix_bytes).cast("string")

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
        field("experiment"),
        field("variant"),
        # Only rejections store their topic: one string fewer per valid row to ship.
        F.when(kept_payload, F.col("kafka_topic")).alias("kafka_topic"),
        F.col("kafka_partition"),
        F.col("kafka_offset"),
        F.when(~F.col("reason").eqNullSafe("bad_kafka_timestamp"), F.col("kafka_timestamp")).alias(
            "kafka_timestamp"
        ),
        # Only rejections keep their payload (a bounded prefix, with the size and hash of the
        # whole), made storable: valid UTF-8 and no NUL character. Suspicious rows carry the
        # whole payload for the strict check, which cuts it to the prefix where it rejects.
        F.when(
            kept_payload,
            F.regexp_replace(
                F.make_valid_utf8(F.when(suspicious, payload).otherwise(prefix)),
                "\\x00",
                "\ufffd",
            ),
        ).alias("raw_payload"),
        F.when(kept_payload, F.col("payload_bytes")).alias("payload_bytes"),
        F.when(kept_payload, F.sha2(value, 256)).alias("payload_sha256"),
        F.col("reason"),
        suspicious.alias("suspicious"),
    )
    return source, with_json, with_text, checked, result


def checked_rows(messages: DataFrame, rules: ParseRules | None = None) -> pa.Table:
    """parse_messages collected and decided by the strict check: the rows the sink stores."""
    rules = rules or ParseRules()
    table = parse_messages(messages, rules).toArrow()
    batches = [recheck(b, rules.payload_prefix_bytes) for b in table.to_batches()]
    if not batches:
        return table.drop_columns(["suspicious"])
    return pa.Table.from_batches(batches)


def valid_events(checked: DataFrame) -> DataFrame:
    """The rows of `parse_messages` that are valid events."""
    return checked.where(F.col("reason").isNull())


def rejections(checked: DataFrame) -> DataFrame:
    """The rows of `parse_messages` that are rejected, in rejected_events' shape."""
    return checked.where(F.col("reason").isNotNull()).select(*REJECT_COLUMNS)
