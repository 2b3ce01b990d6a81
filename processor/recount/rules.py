"""One Kafka message in, a valid `Event` or the rejection reason out (docs/processor.md, rules).

Written from the spec alone, in plain Python: the first reason that applies wins, in the order
of `check`. Identifiers come out lowercase (PostgreSQL's uuid reads either case as one value),
event time as integer microseconds since the Unix epoch, in UTC, and money as exact Decimal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from ipaddress import AddressValueError, IPv6Address
from typing import Any, NamedTuple

from processor.settings import ProcessorSettings

EVENT_TYPES = frozenset(("page_view", "add_to_cart", "purchase"))
CART_TYPES = frozenset(("add_to_cart", "purchase"))
DEVICE_TYPES = frozenset(("desktop", "mobile", "tablet"))
REQUIRED = (
    *("event_id", "event_type", "timestamp", "user_id", "session_id", "page_url"),
    "device_type",
)
# Every field whose JSON type is checked, in the order the first wrong one is named.
TYPED = (
    *("event_id", "event_type", "timestamp", "user_id", "session_id", "product_id"),
    *("page_url", "user_agent", "ip_address", "device_type", "price", "quantity", "order_id"),
    *("category", "referrer", "country", "experiment", "variant"),
)
MAX_PRICE = Decimal(1_000_000)
MAX_QUANTITY = 10_000
INT64 = range(-(2**63), 2**63)
CENT = Decimal("0.01")
NUL_ESCAPE = "\\u0000"
BLANK = " \t\n\r"  # JSON's white space: a page_url of only these is blank
US = 1_000_000
# A message's own Kafka timestamp must lie in [1970-01-01, 9000-01-01) (docs: before 1970 or
# after 9000 is bad_kafka_timestamp), in microseconds since the epoch.
KAFKA_TIME_US = (0, 221845392000 * US)
EPOCH_DAY = date(1970, 1, 1).toordinal()
DAYS_2000_YEARS = 5 * 146_097  # five 400-year cycles of the Gregorian calendar
Y2K_US = (date(2000, 1, 1).toordinal() - EPOCH_DAY) * 86_400 * US

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_MILLIS_Z = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_TIMESTAMP = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:Z|([+-])([0-9]{2}):([0-9]{2}))"
)


@dataclass(frozen=True)
class Rules:
    """The bounds the rules depend on (PROCESSOR_MAX_MESSAGE_BYTES, _MAX_FUTURE, _MAX_LATENESS)."""

    max_message_bytes: int = 1_048_576
    max_future_us: int = 300 * US
    max_lateness_us: int = 3_600 * US

    @classmethod
    def from_settings(cls, settings: ProcessorSettings) -> Rules:
        """The processor's own bounds, so that both apply the rules alike."""
        return cls(
            max_message_bytes=settings.max_message_bytes,
            max_future_us=round(settings.max_future_seconds * US),
            max_lateness_us=round(settings.max_lateness_seconds * US),
        )


class Event(NamedTuple):
    """A valid event, with what the aggregates need (ids lowercase, time in UTC microseconds)."""

    event_id: str
    event_type: str
    time_us: int
    user_id: str
    session_id: str
    product_id: str | None
    price: Decimal | None
    quantity: int | None
    order_id: str | None
    category: str | None
    device_type: str
    user_agent: str | None  # a session's first event's decides whether it is a bot's
    experiment: str | None
    variant: str | None


def _number(text: str) -> Decimal:
    """A JSON fraction or exponent number, exactly; one beyond Decimal's range stays on its side."""
    try:
        return Decimal(text)
    except InvalidOperation:
        sign = "-" if text.startswith("-") else ""
        tiny = text.lower().partition("e")[2].startswith("-")
        return Decimal(sign + ("1E-999999" if tiny else "Infinity"))


def _integer(text: str) -> int | Decimal:
    # Beyond 20 characters it is outside 64 bits anyway; Decimal keeps it a number without
    # meeting Python's limit on long int conversions.
    return int(text) if len(text) <= 20 else Decimal(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_float=_number, parse_int=_integer, parse_constant=_no_constant)


def _json_object(text: str) -> dict[str, Any] | None:
    """The text as one strict JSON object (RFC 8259, duplicate keys: the last wins), or None."""
    try:
        value = _DECODER.decode(text)
    except (ValueError, RecursionError):
        return None
    return value if type(value) is dict else None


_DAYS: dict[str, int | None] = {}


def _day(text: str) -> int | None:
    """Days since 1970-01-01 of a `YYYY-MM-DD` that is a real date, else None (cached)."""
    if text in _DAYS:
        return _DAYS[text]
    try:
        if text.startswith("0000"):  # year 0: Python has none; its calendar is year 2000's
            days: int | None = _day("2000" + text[4:])
            days = None if days is None else days - DAYS_2000_YEARS
        else:
            days = date.fromisoformat(text).toordinal() - EPOCH_DAY
    except ValueError:
        days = None
    if len(_DAYS) > 100_000:  # hostile input: keep the cache bounded
        _DAYS.clear()
    _DAYS[text] = days
    return days


_SECONDS: dict[str, int | None] = {}


def _second_us(text: str) -> int | None:
    """µs since the epoch of a `YYYY-MM-DDTHH:MM:SS` that is a real date and time, else None
    (cached: a stream has many events per second)."""
    if text in _SECONDS:
        return _SECONDS[text]
    days = _day(text[:10])
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    start = None
    if days is not None and hour <= 23 and minute <= 59 and second <= 59:
        start = (days * 86_400 + hour * 3_600 + minute * 60 + second) * US
    if len(_SECONDS) > 200_000:
        _SECONDS.clear()
    _SECONDS[text] = start
    return start


def event_time_us(text: str) -> int | None:
    """RFC 3339 with a zone (`...T...Z` or `±HH:MM`, 1-9 fraction digits) as UTC µs, else None."""
    if _MILLIS_Z.fullmatch(text) is not None:  # the producer's form, the bulk of every topic
        start = _second_us(text[:19])
        return None if start is None else start + int(text[20:23]) * 1_000
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        return None
    day, hh, mm, ss, fraction, sign, oh, om = m.groups()
    days = _day(day)
    hour, minute, second = int(hh), int(mm), int(ss)
    if days is None or hour > 23 or minute > 59 or second > 59:
        return None
    seconds = days * 86_400 + hour * 3_600 + minute * 60 + second
    if sign is not None:
        offset_h, offset_m = int(oh), int(om)
        if offset_h > 18 or offset_m > 59:
            return None
        offset = offset_h * 3_600 + offset_m * 60
        seconds += -offset if sign == "+" else offset
    # Microseconds are what PostgreSQL keeps; digits beyond them are cut, not rounded.
    micros = int((fraction + "00000")[:6]) if fraction else 0
    return seconds * US + micros


# Valid ids and addresses seen so far: most repeat (users, sessions, products, devices), so a
# dict look-up replaces the pattern. Ids map to their lowercase form, one string per value.
_IDS: dict[str, str] = {}
_IPS: set[str] = set()


def _id(value: str) -> str | None:
    """The lowercase form of a well-formed uuid, else None."""
    found = _IDS.get(value)
    if found is None and _UUID.fullmatch(value) is not None:
        if len(_IDS) > 2_000_000:  # hostile input: keep the cache bounded
            _IDS.clear()
        found = _IDS[value] = value.lower()
    return found


def _is_ip(text: str) -> bool:
    """A dotted-quad IPv4 address (no leading zeros) or an IPv6 address."""
    if text in _IPS:
        return True
    if _IPV4.fullmatch(text) is None:
        if ":" not in text or "%" in text:  # a zone index is no address PostgreSQL stores
            return False
        try:
            IPv6Address(text)
        except AddressValueError:
            return False
    if len(_IPS) > 1_000_000:
        _IPS.clear()
    _IPS.add(text)
    return True


def _missing_or_bad_type(obj: dict[str, Any]) -> str | None:
    """missing_field:<f> for the first absent required field, then bad_type:<f> for the first
    present field whose JSON type is wrong."""
    for name in REQUIRED:
        if obj.get(name) is None:
            return f"missing_field:{name}"
    for name in TYPED:
        value = obj.get(name)
        if value is None:
            continue
        kind = type(value)
        if name == "price":
            wrong = kind is not int and kind is not Decimal
        elif name == "quantity":
            wrong = kind is not int or value not in INT64
        else:
            wrong = kind is not str
        if wrong:
            return f"bad_type:{name}"
    return None


# The JSON types of TYPED (as a tuple) of messages without a missing or mistyped field.
_GOOD_TYPES: set[tuple[type, ...]] = set()


def _bad_value(
    event_type: str,
    device_type: str,
    page_url: str,
    product_id: str | None,
    price: int | Decimal | None,
    quantity: int | None,
    order_id: str | None,
) -> str | None:
    """The reasons of rule 12, in their order."""
    if event_type not in EVENT_TYPES:
        return "unknown_event_type"
    if device_type not in DEVICE_TYPES:
        return "bad_value:device_type"
    if not page_url.strip(BLANK):
        return "bad_value:page_url"
    if event_type in CART_TYPES:
        if product_id is None:
            return "missing_field:product_id"
        if price is None:
            return "missing_field:price"
        if quantity is None:
            return "missing_field:quantity"
        if event_type == "purchase" and order_id is None:
            return "missing_field:order_id"
    if event_type in ("page_view", "add_to_cart") and order_id is not None:
        return "unexpected_field:order_id"
    if price is not None:
        if price != price or not -MAX_PRICE <= price <= MAX_PRICE:
            return "bad_value:price"
        if price < 0:
            return "negative_price"
        if price != Decimal(price).quantize(CENT):  # more than two decimals
            return "bad_value:price"
    if quantity is not None and not 1 <= quantity <= MAX_QUANTITY:
        return "bad_quantity"
    return None


_new = tuple.__new__


def check(value: bytes | None, kafka_timestamp_us: int, rules: Rules) -> Event | str:
    """The message as an Event, or the first rejection reason that applies (a str)."""
    if value is not None and len(value) > rules.max_message_bytes:
        return "oversized_message"
    if not value:
        return "empty_payload"
    if not KAFKA_TIME_US[0] <= kafka_timestamp_us < KAFKA_TIME_US[1]:
        return "bad_kafka_timestamp"
    try:
        text = value.decode("utf-8")
        obj = _json_object(text)
        if obj is None:
            return "invalid_json"
    except UnicodeDecodeError:
        # Invalid bytes inside the strings of a JSON object are read as U+FFFD.
        text = value.decode("utf-8", errors="replace")
        obj = _json_object(text)
        if obj is None:
            return "invalid_utf8"
    if NUL_ESCAPE in text:
        return "nul_character"
    # Any: the field types are checked as a whole against _GOOD_TYPES below.
    values: tuple[Any, ...] = tuple(map(obj.get, TYPED))
    types = tuple(map(type, values))
    if types not in _GOOD_TYPES:
        reason = _missing_or_bad_type(obj)
        if reason is not None:
            return reason
        _GOOD_TYPES.add(types)  # at most 3 * 2**10 combinations (absent or typed, two for price)
    (event_id, event_type, timestamp, user_id, session_id, product_id, page_url, user_agent,
     ip_address, device_type, price, quantity, order_id, category, _referrer,
     _country, experiment, variant) = values  # fmt: skip
    if quantity is not None and quantity not in INT64:
        return "bad_type:quantity"
    # Rule 8: malformed uuids in field order, then the address.
    if _UUID.fullmatch(event_id) is None:
        return "bad_type:event_id"
    user = _id(user_id)
    if user is None:
        return "bad_type:user_id"
    session = _id(session_id)
    if session is None:
        return "bad_type:session_id"
    product = None if product_id is None else _id(product_id)
    if product is None and product_id is not None:
        return "bad_type:product_id"
    order = None if order_id is None else _id(order_id)
    if order is None and order_id is not None:
        return "bad_type:order_id"
    if ip_address is not None and not _is_ip(ip_address):
        return "bad_type:ip_address"
    time_us = event_time_us(timestamp)
    if time_us is None:
        return "bad_type:timestamp"
    if time_us < Y2K_US:
        return "timestamp_too_old"
    if time_us > kafka_timestamp_us + rules.max_future_us:
        return "timestamp_in_future"
    plain_view = (
        event_type == "page_view" and price is None and quantity is None and order_id is None
    )
    if not plain_view or device_type not in DEVICE_TYPES or not page_url.strip(BLANK):
        reason = _bad_value(
            event_type, device_type, page_url, product_id, price, quantity, order_id
        )
        if reason is not None:
            return reason
    if price is not None:
        price = Decimal(price)
    fields = (event_id.lower(), event_type, time_us, user, session, product, price, quantity)
    return _new(Event, (*fields, order, category, device_type, user_agent, experiment, variant))
