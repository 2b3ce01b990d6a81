"""Hypothesis strategies for events near the contract's edges, built from the schema file.

Most drawn events are valid; each field is now and then replaced by a hostile value (null,
absent, another JSON type, a near miss of its pattern, a value beyond its bounds). Whether an
event is valid is never decided here: the tests ask the contract's validator and the processor.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

import contract

ABSENT = object()  # a field left out of the JSON object
PROPERTIES = contract.schema()["properties"]
UUID_PATTERN = contract.schema()["$defs"]["uuid"]["pattern"]
TIMESTAMP_PATTERN = PROPERTIES["timestamp"]["pattern"]

uuids = st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper())
offsets = st.sampled_from(["Z", "+00:00", "-05:00", "+05:30", "+18:00", "-18:00", "+14:45"])


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """RFC 3339 with a zone: 0, 3, 6 or 9 fraction digits, around 2000 and up to 2100."""
    at = draw(
        st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2100, 1, 1))
        | st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2100, 1, 1))
        | st.datetimes(min_value=datetime(1999, 12, 31, 5), max_value=datetime(2000, 1, 1, 19))
    )
    digits = draw(st.sampled_from([0, 3, 6, 9]))
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + (f"{at.microsecond:06d}" + "123")[:digits]
    return text + draw(offsets)


def _near_miss(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid value with a character added, removed or changed."""
    return st.tuples(
        valid, st.integers(0, 40), st.sampled_from(["", "x", "0", " ", "\n", "-"])
    ).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + (1 if t[2] == "" or t[1] % 2 else 0) :])


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=4)
blanks = st.sampled_from(["", " ", "\t", "\n \r", "\u00a0", "\u2028", "\x1c", "\ufeff", "\u3000"])
prices = st.decimals(min_value=0, max_value=1_000_000, places=2).map(float)
hostile_prices = (
    st.decimals(min_value=-2_000_000, max_value=2_000_000, places=3).map(float)
    | st.floats(min_value=-1e7, max_value=1e7)
    | st.sampled_from([-0.01, 1_000_000.01, 1e-7, 19.990000001, 1e300, 5e-324, 0.0])
    | st.integers(-(2**64), 2**64)
)

VALID: dict[str, st.SearchStrategy[Any]] = {
    "event_id": uuids,
    "user_id": uuids,
    "session_id": uuids,
    "product_id": uuids,
    "order_id": uuids,
    "event_type": st.sampled_from(contract.EVENT_TYPES),
    "device_type": st.sampled_from(contract.DEVICE_TYPES),
    "timestamp": timestamps(),
    "page_url": st.sampled_from(["/", "/cart", "/checkout/complete", "/search?q=red shoes"])
    | st.text(min_size=1, max_size=12).filter(lambda s: s.strip(" \t\n\r") != "" and "\0" not in s),
    "price": prices,
    "quantity": st.integers(1, 10_000),
    "ip_address": st.ip_addresses().map(str),
    "user_agent": st.text(max_size=20).filter(lambda s: "\0" not in s),
    "category": st.sampled_from(["Electronics", "Home & Kitchen", None]),
    "country": st.sampled_from(["US", "DE", "BR"]),
    "referrer": st.sampled_from(["https://www.google.com/", None]),
    "experiment": st.sampled_from(["checkout-test", None]),
    "variant": st.sampled_from(["A", "B", None]),
}
HOSTILE: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(
        ("event_id", "user_id", "session_id", "product_id", "order_id"),
        _near_miss(uuids) | st.from_regex(UUID_PATTERN.replace("{12}", "{11}"), fullmatch=True),
    ),
    "event_type": st.sampled_from(["refund", "Purchase", "page_view ", ""]),
    "device_type": st.sampled_from(["tv", "Mobile", "", "desktop\n"]),
    "timestamp": _near_miss(timestamps())
    | st.from_regex(TIMESTAMP_PATTERN, fullmatch=True)
    | st.sampled_from(
        ["2025", "2025-08-19", "2025-08-19T14:05:22", "14:05:22", "2025-02-29T00:00:00Z"]
    ),
    "page_url": blanks,
    "price": hostile_prices,
    "quantity": st.integers(-3, 3) | st.integers(9_998, 10_002) | st.integers(2**62, 2**64),
    "ip_address": st.sampled_from(["01.2.3.4", "256.1.1.1", "fe80::1%eth0", "1.2.3", "::g"]),
    "user_agent": st.text(max_size=4).map(lambda s: s + "\0"),
    "category": st.just("a\0b"),
    "country": st.integers(0, 9),
    "referrer": st.just(["a"]),
    "experiment": st.integers(0, 9),
    "variant": st.booleans(),
}


_CARTS = ("add_to_cart", "purchase")
_ONLY_ON = {"price": _CARTS, "quantity": _CARTS, "product_id": _CARTS, "order_id": ("purchase",)}


@st.composite
def events(draw: st.DrawFn, hostility: int = 25) -> dict[str, Any]:
    """An event whose fields are each hostile with probability 1/hostility."""
    event_type = draw(VALID["event_type"])
    out: dict[str, Any] = {}
    for name in contract.FIELDS:
        if draw(st.sampled_from(range(hostility))) == hostility - 1:
            value = draw(st.sampled_from([ABSENT, None]) | HOSTILE[name] | json_values)
        elif name == "event_type":
            value = event_type
        elif name in _ONLY_ON and event_type not in _ONLY_ON[name]:
            value = draw(st.sampled_from([ABSENT, None]))
        else:
            value = draw(VALID[name])
        if value is not ABSENT:
            out[name] = value
    if draw(st.sampled_from(range(hostility))) == hostility - 1:
        out[draw(st.text(min_size=1, max_size=6))] = draw(json_values)
    return out


def dumps(event: dict[str, Any]) -> str:
    """Compact JSON, as our producer writes it (numbers in Python's shortest round-trip form)."""
    return json.dumps(event, separators=(",", ":"))
