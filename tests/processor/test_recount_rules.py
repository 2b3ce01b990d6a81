"""The recount's own validation rules (processor/recount/rules.py), one reason at a time, on
hand-written messages. No services, no Spark."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from infra.env import load_env
from processor.recount.rules import Event, Rules, check, event_time_us
from processor.settings import ProcessorSettings
from tests.processor.sample_events import dumps, event

NOW = event_time_us("2025-08-19T15:00:00Z") or 0
PRODUCT = "00000000-0000-4000-8000-0000000000b1"
ORDER = "00000000-0000-4000-8000-0000000000c1"
RULES = Rules()


def purchase(**changes: Any) -> dict[str, Any]:
    """A valid purchase line; `changes` replace fields (None removes one)."""
    e = event("purchase", product_id=PRODUCT, price=10.5, quantity=2, order_id=ORDER)
    e.update(changes)
    return {k: v for k, v in e.items() if v is not None}


def reason(message: bytes | str | dict[str, Any] | None, rules: Rules = RULES) -> str | Event:
    """The recount's verdict on one message."""
    if isinstance(message, dict):
        message = dumps(message)
    if isinstance(message, str):
        message = message.encode()
    return check(message, NOW, rules)


def test_a_valid_purchase_becomes_an_event_with_lowercase_ids_and_exact_money() -> None:
    e = reason(purchase(event_id="ABCDEF00-0000-4000-8000-0000000000AA", price=19.99))
    assert isinstance(e, Event)
    assert e.event_id == "abcdef00-0000-4000-8000-0000000000aa"
    assert e.price == Decimal("19.99") and e.quantity == 2 and e.order_id == ORDER
    assert e.time_us == event_time_us("2025-08-19T14:00:00.000Z")


def test_size_and_emptiness_come_first() -> None:
    big = dumps(purchase(referrer="x" * 200)).encode()
    assert reason(big, Rules(max_message_bytes=len(big) - 1)) == "oversized_message"
    assert isinstance(reason(big, Rules(max_message_bytes=len(big))), Event)
    assert reason(b" " * 50, Rules(max_message_bytes=10)) == "oversized_message"
    assert reason(None) == "empty_payload"
    assert reason(b"") == "empty_payload"


def test_a_kafka_timestamp_outside_1970_to_9000_comes_next() -> None:
    good = dumps(purchase()).encode()
    for us in (-1, -1000, event_time_us("9000-01-01T00:00:00Z") or 0):
        assert check(good, us, RULES) == "bad_kafka_timestamp", us
    for us in (0, (event_time_us("8999-12-31T23:59:59Z") or 0)):
        assert check(good, us, RULES) != "bad_kafka_timestamp", us  # (maybe another reason)
    assert check(b"", -1, RULES) == "empty_payload"  # emptiness first
    assert check(b"{not json", -1, RULES) == "bad_kafka_timestamp"  # before the JSON


def test_invalid_utf8_unless_it_is_a_json_object_with_bad_bytes_inside_strings() -> None:
    assert reason(b"\xff\xfe garbage") == "invalid_utf8"
    assert reason(dumps(purchase()).encode() + b"\xff") == "invalid_utf8"  # outside strings
    assert reason(b'"\xff"') == "invalid_utf8"  # JSON, but not an object
    inside = dumps(purchase(category="AAA")).encode().replace(b"AAA", b"A\xffA")
    e = reason(inside)
    assert isinstance(e, Event) and e.category == "A\ufffdA"


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        dumps(purchase()) + " xyz",  # trailing data
        dumps(purchase()) + dumps(purchase()),  # two objects
        dumps(purchase()).replace('"', "'"),  # single quotes
        dumps(purchase()).replace("10.5", "NaN"),
        dumps(purchase()).replace("10.5", "Infinity"),
        dumps(purchase()).replace("10.5", "-Infinity"),
        "/* c */" + dumps(purchase()),
        "[" + dumps(purchase()) + "]",
        '"a string"',
        "42",
        "null",
        dumps(purchase())[:-1],  # cut short
        '{"event_id": "a\tb"}',  # raw control character in a string
    ],
)
def test_anything_but_one_strict_json_object_is_invalid_json(text: str) -> None:
    assert reason(text) == "invalid_json"


def test_whitespace_around_the_object_is_fine_and_the_last_duplicate_key_wins() -> None:
    assert isinstance(reason(" \r\n" + dumps(purchase()) + "\n\t "), Event)
    text = dumps(purchase())
    assert isinstance(reason('{"event_type": "bogus", ' + text[1:]), Event)
    assert reason(text[:-1] + ', "event_type": "bogus"}') == "unknown_event_type"
    e = reason(text[:-1] + ', "device_type": "tablet"}')
    assert isinstance(e, Event) and e.device_type == "tablet"


def test_the_nul_escape_is_rejected_before_any_field_check() -> None:
    assert reason(dumps(purchase(page_url="/a\u0000b"))) == "nul_character"
    assert reason('{"event_id": 1, "x": "\\u0000"}') == "nul_character"


@pytest.mark.parametrize(
    "name", ["event_id", "event_type", "timestamp", "user_id", "session_id", "page_url"]
)
def test_each_required_field_absent_or_null_is_missing(name: str) -> None:
    e = purchase()
    del e[name]
    assert reason(e) == f"missing_field:{name}"
    e[name] = None
    assert reason(json.dumps(e)) == f"missing_field:{name}"


def test_device_type_is_required_and_missing_fields_come_in_order() -> None:
    assert reason(purchase(device_type=None)) == "missing_field:device_type"
    e = purchase()
    del e["session_id"], e["user_id"]
    assert reason(e) == "missing_field:user_id"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("event_id", 7),
        ("event_type", ["purchase"]),
        ("timestamp", 1755612000),
        ("user_id", True),
        ("session_id", {"id": 1}),
        ("product_id", 1.5),
        ("page_url", False),
        ("user_agent", 1),
        ("ip_address", [1, 2, 3, 4]),
        ("device_type", 0),
        ("price", "10.50"),
        ("price", True),
        ("quantity", 1.0),
        ("quantity", "2"),
        ("quantity", False),
        ("order_id", 5),
        ("category", 5),
        ("referrer", {}),
        ("country", 49),
        ("experiment", 3),
        ("variant", ["B"]),
    ],
)
def test_a_wrong_json_type_is_bad_type(name: str, value: Any) -> None:
    assert reason(purchase(**{name: value})) == f"bad_type:{name}"


@pytest.mark.parametrize("text", ["1e3", "1.0", "2.5", "9223372036854775808", "1" * 5000])
def test_quantity_must_be_a_json_integer_in_64_bits(text: str) -> None:
    message = dumps(purchase()).replace('"quantity":2', f'"quantity":{text}')
    assert reason(message) == "bad_type:quantity"


def test_quantity_at_the_64_bit_edges_is_an_integer_checked_for_range() -> None:
    for text in ("9223372036854775807", "-9223372036854775808"):
        message = dumps(purchase()).replace('"quantity":2', f'"quantity":{text}')
        assert reason(message) == "bad_quantity"


def test_bad_types_are_named_in_field_order() -> None:
    assert reason(purchase(country=1, price="x", event_type=3)) == "bad_type:event_type"
    assert reason(purchase(country=1, quantity=2**64)) == "bad_type:quantity"


@pytest.mark.parametrize("name", ["event_id", "user_id", "session_id", "product_id", "order_id"])
@pytest.mark.parametrize(
    "value",
    ["", "not-a-uuid", "00000000-0000-4000-8000-00000000000", "0000000000004000800000000000000a"],
)
def test_a_malformed_uuid_is_bad_type(name: str, value: str) -> None:
    assert reason(purchase(**{name: value})) == f"bad_type:{name}"


def test_uuids_are_checked_in_order_then_the_address() -> None:
    assert reason(purchase(order_id="x", user_id="y", ip_address="z")) == "bad_type:user_id"
    assert reason(purchase(order_id="x", ip_address="z")) == "bad_type:order_id"
    assert isinstance(reason(purchase(user_id="ABCDEF00-0000-4000-8000-0000000000AA")), Event)
    uuid_newline = dumps(purchase()).replace(ORDER, ORDER + "\\n")
    assert reason(uuid_newline) == "bad_type:order_id"


@pytest.mark.parametrize(
    "ip", ["192.168.0.1", "0.0.0.0", "255.255.255.255", "::1", "2001:db8::8a2e:370:7334", "::"]
)
def test_good_addresses(ip: str) -> None:
    assert isinstance(reason(purchase(ip_address=ip)), Event)


@pytest.mark.parametrize(
    "ip",
    ["", "01.2.3.4", "1.2.3.004", "256.1.1.1", "1.2.3", "1.2.3.4.5", "fe80::1%eth0", "1::2::3",
     "12345::", " 1.2.3.4", "1.2.3.4\n", "localhost", "1.2.3.4/24"],
)  # fmt: skip
def test_bad_addresses(ip: str) -> None:
    assert reason(purchase(ip_address=ip)) == "bad_type:ip_address"


@pytest.mark.parametrize(
    "ts",
    [
        "2025-08-19T14:00:00",  # no zone
        "2025-08-19",
        "14:00:00Z",
        "2025-08-19t14:00:00Z",
        "2025-08-19T14:00:00z",
        "2025-08-19 14:00:00Z",
        "2025-08-19T14:00:00.Z",
        "2025-08-19T14:00:00.1234567890Z",  # ten fraction digits
        "2025-08-19T14:00Z",
        "2025-02-30T14:00:00Z",
        "2025-08-19T24:00:00Z",
        "2025-08-19T14:60:00Z",
        "2025-08-19T14:00:60Z",
        "2025-08-19T14:00:00+19:00",
        "2025-08-19T14:00:00+05:60",
        "2025-08-19T14:00:00+0530",
        "2025-08-19T14:00:00 UTC",
        "2025-08-19T14:00:00.123Z\n",
        "2025-08-19T14:00:00.12３Z",
        "0000-02-30T00:00:00Z",
    ],
)
def test_a_malformed_or_impossible_timestamp_is_bad_type(ts: str) -> None:
    assert reason(purchase(timestamp=ts)) == "bad_type:timestamp"


def test_timestamps_are_converted_to_utc_microseconds() -> None:
    t = event_time_us("2025-08-19T14:00:00Z")
    assert event_time_us("2025-08-19T19:30:00+05:30") == t
    assert event_time_us("2025-08-19T09:00:00-05:00") == t
    assert event_time_us("2025-08-19T14:00:00.123456789Z") == (t or 0) + 123_456  # cut to µs
    assert event_time_us("2025-08-19T14:00:00.5Z") == (t or 0) + 500_000
    assert event_time_us("2025-08-19T14:00:00.123Z") == (t or 0) + 123_000
    assert event_time_us("2024-02-29T23:59:59+18:00") is not None
    assert event_time_us("0001-01-01T00:00:00+01:00") is not None  # before year 1 in UTC


def test_too_old_and_in_the_future() -> None:
    assert reason(purchase(timestamp="1999-12-31T23:59:59.999Z")) == "timestamp_too_old"
    assert isinstance(reason(purchase(timestamp="2000-01-01T00:00:00Z")), Event)
    assert reason(purchase(timestamp="2000-01-01T00:30:00+01:00")) == "timestamp_too_old"
    # Year 0 is a real year in RFC 3339 and in Spark (proleptic Gregorian, a leap year).
    assert reason(purchase(timestamp="0000-01-01T00:00:00Z")) == "timestamp_too_old"
    assert reason(purchase(timestamp="0000-02-29T12:00:00-05:00")) == "timestamp_too_old"
    assert isinstance(reason(purchase(timestamp="2025-08-19T15:05:00Z")), Event)  # +5 min
    assert reason(purchase(timestamp="2025-08-19T15:05:00.001Z")) == "timestamp_in_future"
    assert reason(purchase(timestamp="2025-08-19T15:10:00Z"), Rules(max_future_us=0)) == (
        "timestamp_in_future"
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"event_type": "refund"}, "unknown_event_type"),
        ({"event_type": "Purchase"}, "unknown_event_type"),
        ({"device_type": "watch"}, "bad_value:device_type"),
        ({"page_url": " \t "}, "bad_value:page_url"),
        ({"page_url": ""}, "bad_value:page_url"),
        ({"product_id": None}, "missing_field:product_id"),
        ({"price": None}, "missing_field:price"),
        ({"quantity": None}, "missing_field:quantity"),
        ({"order_id": None}, "missing_field:order_id"),
        ({"price": 1_000_000.01}, "bad_value:price"),
        ({"price": -1_000_001}, "bad_value:price"),
        ({"price": -0.5}, "negative_price"),
        ({"price": 1.005}, "bad_value:price"),
        ({"quantity": 0}, "bad_quantity"),
        ({"quantity": 10_001}, "bad_quantity"),
        ({"quantity": -3}, "bad_quantity"),
    ],
)
def test_value_rules(changes: dict[str, Any], expected: str) -> None:
    assert reason(purchase(**changes)) == expected


def test_value_rules_come_in_their_order() -> None:
    both = purchase(event_type="refund", device_type="watch", price=-1)
    assert reason(both) == "unknown_event_type"
    assert reason(purchase(price=-1.001, quantity=0)) == "negative_price"
    assert reason(purchase(price=None, quantity=None)) == "missing_field:price"
    assert reason(purchase(quantity=0, price=1.001)) == "bad_value:price"


def test_value_edges_that_are_fine() -> None:
    for changes in ({"price": 1_000_000}, {"price": 0}, {"quantity": 10_000}, {"price": 12}):
        assert isinstance(reason(purchase(**changes)), Event), changes
    assert isinstance(reason(dumps(purchase()).replace("10.5", "10.500")), Event)
    assert isinstance(reason(dumps(purchase()).replace("10.5", "1.05e1")), Event)
    assert reason(dumps(purchase()).replace("10.5", "1e999999999999999999999")) == (
        "bad_value:price"
    )
    assert reason(dumps(purchase()).replace("10.5", "1e-999999999999999999999")) == (
        "bad_value:price"
    )


def test_a_page_view_needs_no_product_or_money_but_its_money_is_checked() -> None:
    view = event("page_view")
    assert isinstance(reason(view), Event)
    assert reason({**view, "price": -1}) == "negative_price"
    assert reason({**view, "quantity": 0}) == "bad_quantity"
    cart = event("add_to_cart", product_id=PRODUCT, price=3, quantity=1)
    assert isinstance(reason(cart), Event)  # no order_id needed


def test_rules_take_the_processors_bounds() -> None:
    def rules(**env: str) -> Rules:
        return Rules.from_settings(ProcessorSettings.from_env({**load_env(), **env}))

    bounds = {"PROCESSOR_MAX_MESSAGE_BYTES": "1048576", "PROCESSOR_MAX_FUTURE": "5m"}
    assert rules(**bounds, PROCESSOR_MAX_LATENESS="1h") == Rules()
    short = rules(PROCESSOR_MAX_FUTURE="30s", PROCESSOR_MAX_LATENESS="20m")
    assert short.max_future_us == 30_000_000 and short.max_lateness_us == 1_200_000_000
