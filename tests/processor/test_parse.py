"""parse_messages: every message becomes a typed event or a rejection with a specific reason."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from decimal import Decimal
from typing import Any

import pytest

from processor.parse import ParseRules, checked_rows, parse_messages, rejections, valid_events
from tests.processor.sample_events import T0, dumps, event

pytestmark = pytest.mark.integration  # needs the Spark session (jars from start_infrastructure)

ORDER = "00000000-0000-4000-8000-00000000000f"
PRODUCT = "00000000-0000-4000-8000-0000000000b1"


def purchase(**overrides: Any) -> dict[str, Any]:
    e = event("purchase", product_id=PRODUCT, price=19.99, quantity=2, order_id=ORDER)
    e.update(overrides)
    return e


def without(e: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in e.items() if k != name}


CART = purchase(event_type="add_to_cart", order_id=None)

CASES: list[tuple[str, Any, str]] = [
    ("not json", "not json", "invalid_json"),
    ("json array", "[1, 2]", "invalid_json"),
    ("json string", '"text"', "invalid_json"),
    ("trailing comma", '{"event_id": "x",}', "invalid_json"),
    ("empty", "", "empty_payload"),
    ("null value", None, "empty_payload"),
    ("invalid utf-8", b"\xff\xfe{}", "invalid_utf8"),
    ("nul character", purchase(page_url="/a\u0000b"), "nul_character"),
    ("missing user_id", without(event(), "user_id"), "missing_field:user_id"),
    ("null session_id", event(session_id=None), "missing_field:session_id"),
    ("missing timestamp", without(event(), "timestamp"), "missing_field:timestamp"),
    ("missing device", without(event(), "device_type"), "missing_field:device_type"),
    ("empty object", "{}", "missing_field:event_id"),
    ("price as string", purchase(price="19.99"), "bad_type:price"),
    ("quantity as float", purchase(quantity=2.5), "bad_type:quantity"),
    ("quantity as string", purchase(quantity="2"), "bad_type:quantity"),
    ("price as bool", purchase(price=True), "bad_type:price"),
    ("event_id number", event(event_id=123), "bad_type:event_id"),  # type: ignore[arg-type]
    ("event_id not uuid", event(event_id="abc"), "bad_type:event_id"),
    ("uuid with newline", event(event_id=ORDER + "\n"), "bad_type:event_id"),
    ("user_id object", {**event(), "user_id": {"a": 1}}, "bad_type:user_id"),
    ("bad product uuid", event(product_id="p-1"), "bad_type:product_id"),
    ("bad order uuid", purchase(order_id="o-1"), "bad_type:order_id"),
    ("bad timestamp", {**event(), "timestamp": "yesterday"}, "bad_type:timestamp"),
    ("impossible date", {**event(), "timestamp": "2025-13-45T10:00:00Z"}, "bad_type:timestamp"),
    ("bad ip", {**event(), "ip_address": "300.1.1.1"}, "bad_type:ip_address"),
    ("bad ipv6", {**event(), "ip_address": "2001:db8:::1"}, "bad_type:ip_address"),
    ("empty ip", {**event(), "ip_address": ""}, "bad_type:ip_address"),
    ("empty product id", event(product_id=""), "bad_type:product_id"),
    ("two uuids joined", event(user_id=f"{ORDER}|{ORDER}"), "bad_type:user_id"),
    ("first bad field named", event(session_id="s", product_id="p"), "bad_type:session_id"),
    (
        "uppercase is fine, ip bad",
        event(event_id=ORDER.upper(), ip_address="1.2.3"),
        "bad_type:ip_address",
    ),
    ("unknown event type", event("refund"), "unknown_event_type"),
    ("unknown device", {**event(), "device_type": "watch"}, "bad_value:device_type"),
    ("empty page_url", {**event(), "page_url": " "}, "bad_value:page_url"),
    (
        "cart without product",
        event("add_to_cart", price=5.0, quantity=1),
        "missing_field:product_id",
    ),
    (
        "cart without price",
        without(purchase(event_type="add_to_cart"), "price"),
        "missing_field:price",
    ),
    ("purchase without qty", without(purchase(), "quantity"), "missing_field:quantity"),
    ("purchase without order", without(purchase(), "order_id"), "missing_field:order_id"),
    ("negative price", purchase(price=-1.0), "negative_price"),
    ("price NaN (not JSON)", purchase(price=float("nan")), "invalid_json"),
    ("too many decimals", purchase(price=19.999), "bad_value:price"),
    ("huge price", purchase(price=1e12), "bad_value:price"),
    ("zero quantity", purchase(quantity=0), "bad_quantity"),
    ("huge quantity", purchase(quantity=10**6), "bad_quantity"),
    # Only RFC 3339 with an explicit zone (issue: all of these were accepted).
    *[
        (f"timestamp {ts}", {**event(), "timestamp": ts}, "bad_type:timestamp")
        for ts in (
            "2025",
            "2025-8-9",
            "2025-08-19",
            "2025-08-19T14:05:22",
            "2025-08-19 14:05:22Z",
            "2025-08-19T14:05:22z",
            "2025-08-19T14:05:22 America/New_York",
            "2025-08-19T14:05:22[America/New_York]",
            "14:05:22",
            "+10000-01-01T00:00:00Z",
            "-5000-01-01T00:00:00Z",
            "2025-02-30T00:00:00Z",
            "2025-08-19T24:00:00Z",
            "2025-08-19T14:05:22+5:30",
        )
    ],
    ("before 2000", {**event(), "timestamp": "1999-12-31T23:59:59Z"}, "timestamp_too_old"),
    ("year 9999", {**event(), "timestamp": "9999-12-31T22:00:00Z"}, "timestamp_in_future"),
    # Strict JSON: Spark's reader alone accepts each of these (processor/strict.py).
    ("trailing garbage", dumps(event()) + " xyz", "invalid_json"),
    ("two objects", dumps(event()) + dumps(event()), "invalid_json"),
    ("trailing comment", dumps(event()) + " // c", "invalid_json"),
    ("single quotes", dumps(event()).replace('"', "'"), "invalid_json"),
    ("array of an event", "[" + dumps(event()) + "]", "invalid_json"),
    ("object in page_url", {**event(), "page_url": {"a": 1}}, "bad_type:page_url"),
    ("array in user_agent", {**event(), "user_agent": ["x"]}, "bad_type:user_agent"),
    ("array in category", {**event(), "category": []}, "bad_type:category"),
    ("number in page_url", {**event(), "page_url": 7}, "bad_type:page_url"),
    ("boolean in referrer", {**event(), "referrer": True}, "bad_type:referrer"),
    ("number in experiment", {**event(), "experiment": 7}, "bad_type:experiment"),
    ("boolean in variant", {**event(), "variant": True}, "bad_type:variant"),
    ("number in country", {**event(), "country": 1.5}, "bad_type:country"),
    ("number as event type", {**event(), "event_type": 1}, "bad_type:event_type"),
    ("boolean as device", {**event(), "device_type": False}, "bad_type:device_type"),
    (
        "nested field before a bad value",
        {**event("refund"), "page_url": {"a": 1}},
        "bad_type:page_url",
    ),
    ("price Infinity", dumps(purchase()).replace("19.99", "Infinity"), "invalid_json"),
    ("oversized", dumps({**event(), "referrer": "x" * 1_100_000}), "oversized_message"),
]


def test_each_malformed_message_gets_its_reason(frame) -> None:
    messages = [message for _, message, _ in CASES]
    rows = checked_rows(frame(messages))
    got = dict(zip(rows["kafka_offset"].to_pylist(), rows["reason"].to_pylist(), strict=True))
    for offset, (name, _, reason) in enumerate(CASES):
        assert got.get(offset) == reason, name


def test_lenient_looking_but_strict_json_stays_valid(frame) -> None:
    messages = [
        " " + dumps(event()),  # leading white space
        dumps(event()) + "\n",  # a trailing newline
        {**event(), "page_url": "/search?q=[shoes]{x}"},  # brackets inside a string
        {**event(), "referrer": "NaN Infinity"},
        json.dumps(event()),  # spaces after the colons: checked strictly, and valid
    ]
    rows = checked_rows(frame(messages))
    assert rows["reason"].to_pylist() == [None] * 5
    assert rows["raw_payload"].to_pylist() == [None] * 5  # the kept payload is dropped again


def test_oversized_and_rejected_payloads_keep_a_prefix_their_size_and_hash(frame) -> None:
    big = dumps({**event(), "referrer": "x" * 2_000_000}).encode()
    rules = ParseRules(max_message_bytes=1_000_000, payload_prefix_bytes=100)
    rows = checked_rows(frame([big, "not json" * 50, dumps(event()) + " xyz"]), rules)
    by_offset = {r["kafka_offset"]: r for r in rows.to_pylist()}
    assert by_offset[0]["reason"] == "oversized_message"
    assert by_offset[0]["raw_payload"] == big[:100].decode()
    assert by_offset[0]["payload_bytes"] == len(big)
    assert by_offset[0]["payload_sha256"] == hashlib.sha256(big).hexdigest()
    assert len(by_offset[1]["raw_payload"]) == 100 and by_offset[1]["payload_bytes"] == 400
    assert by_offset[2]["reason"] == "invalid_json" and len(by_offset[2]["raw_payload"]) == 100
    # Rejected by the strict check, stored with its topic like every rejection.
    assert {r["kafka_topic"] for r in by_offset.values()} == {"t"}


def test_the_future_bound_is_the_kafka_timestamp_plus_the_tolerance(frame) -> None:
    # kafka_frame stamps offset n at 18:00:00 + n seconds.
    stamps = ["2025-08-19T18:05:00Z", "2025-08-19T18:05:02Z", "2025-08-19T20:04:00+02:00"]
    rows = checked_rows(frame([{**event(), "timestamp": s} for s in stamps]))
    assert rows["reason"].to_pylist() == [None, "timestamp_in_future", None]


def test_rejections_keep_payload_and_position(frame) -> None:
    rows = rejections(parse_messages(frame(["ok?", b"\xff", "a\u0000b"]))).collect()
    by_offset = {r.kafka_offset: r for r in rows}
    assert by_offset[0].raw_payload == "ok?"
    assert by_offset[0].kafka_partition == 0 and by_offset[0].kafka_topic == "t"
    assert by_offset[1].raw_payload == "\ufffd"  # stored as valid UTF-8
    assert "\u0000" not in by_offset[2].raw_payload


def test_valid_events_are_typed_and_normalised(frame) -> None:
    upper = "ABCDEF00-0000-4000-8000-000000000001"
    messages = [
        purchase(event_id=upper, category="books", referrer="google", country="DE"),
        event(ip_address="2001:db8::1"),
        {**event(), "user_agent": None, "ip_address": None},
    ]
    checked = parse_messages(frame(messages))
    assert rejections(checked).count() == 0
    rows = valid_events(checked).orderBy("kafka_offset").collect()
    first = rows[0]
    assert first.event_id == upper  # PostgreSQL's uuid type folds the case (test_metrics)
    assert first.event_time.replace(tzinfo=UTC) == T0  # Spark returns naive UTC (session TZ)
    assert first.price == Decimal("19.99") and first.quantity == 2 and first.order_id == ORDER
    assert (first.category, first.referrer, first.country) == ("books", "google", "DE")
    assert first.raw_payload is None and first.reason is None
    assert rows[1].ip_address == "2001:db8::1"
    assert rows[2].user_agent is None and rows[2].ip_address is None


def test_rfc3339_offsets_and_fractions_are_accepted(frame) -> None:
    stamps = ["2025-08-19T16:00:00+02:00", "2025-08-19T14:00:00.123456Z", "2025-08-19T14:00:00Z"]
    checked = parse_messages(frame([{**event(), "timestamp": s} for s in stamps]))
    times = [r.event_time for r in valid_events(checked).orderBy("kafka_offset").collect()]
    assert [t.hour for t in times] == [14, 14, 14]
    assert times[1].microsecond == 123456
