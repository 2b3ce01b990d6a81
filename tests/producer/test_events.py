"""Every generated event is valid and its fields agree with each other (docs/design.md §3)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from contract import FIELDS, first_reason
from producer.behavior import Event
from producer.models import DEVICE_TYPES, EVENT_TYPES, device_from_user_agent
from tests.producer.conftest import START, generate

# experiment and variant appear only with the ab-test scenario (tests/producer/test_scenarios.py).
WITHOUT_EXPERIMENT = tuple(f for f in FIELDS if f not in ("experiment", "variant"))
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_every_event_is_valid_json_with_the_schema_fields(parsed: list[dict[str, Any]]) -> None:
    for event in parsed:
        assert first_reason(event) is None, event
        assert tuple(event) == WITHOUT_EXPERIMENT
        assert event["event_type"] in EVENT_TYPES
        assert event["device_type"] in DEVICE_TYPES
        assert event["timestamp"].endswith("Z") and len(event["timestamp"]) == 24


def test_session_user_and_order_ids_are_version_4_uuids(parsed: list[dict[str, Any]]) -> None:
    for event in parsed:
        assert UUID.match(event["session_id"]) and UUID.match(event["user_id"])
        if event["order_id"] is not None:
            assert UUID.match(event["order_id"])
    ids = [e["event_id"] for e in parsed]
    assert len(set(ids)) == len(ids)


def test_page_url_product_and_category_agree(parsed: list[dict[str, Any]]) -> None:
    for e in parsed:
        url, product = e["page_url"], e["product_id"]
        if e["event_type"] == "purchase":
            assert url == "/checkout/complete" and product is not None
        elif product is not None:
            assert url == f"/product/{product}"
        else:
            assert e["event_type"] == "page_view"
            assert (
                url == "/"
                or url in ("/cart", "/checkout")
                or url.startswith(("/category/", "/search?q="))
            )
        assert (e["category"] is None) == (product is None)


def test_money_fields_only_on_carts_and_purchases(parsed: list[dict[str, Any]]) -> None:
    for e in parsed:
        if e["event_type"] == "page_view":
            assert e["price"] is None and e["quantity"] is None and e["order_id"] is None
        else:
            assert isinstance(e["price"], float) and e["price"] > 0
            assert round(e["price"], 2) == e["price"]
            assert isinstance(e["quantity"], int) and e["quantity"] >= 1
            assert (e["order_id"] is not None) == (e["event_type"] == "purchase")


def test_device_agrees_with_user_agent_and_users_keep_their_device(
    parsed: list[dict[str, Any]],
) -> None:
    profile: dict[str, tuple[str, str, str, str]] = {}
    for e in parsed:
        assert device_from_user_agent(e["user_agent"]) == e["device_type"]
        seen = (e["device_type"], e["user_agent"], e["ip_address"], e["country"])
        assert profile.setdefault(e["user_id"], seen) == seen


def test_the_key_is_the_session_id_and_sessions_run_forward(sample: list[Event]) -> None:
    last: dict[str, str] = {}
    session_user: dict[str, str] = {}
    for _, _, value, key, _ in sample:
        e = json.loads(value)
        assert key == e["session_id"]
        assert session_user.setdefault(key, e["user_id"]) == e["user_id"]
        assert last.get(key, "") <= e["timestamp"]
        last[key] = e["timestamp"]


def test_stream_is_in_event_time_order_from_the_start(sample: list[Event]) -> None:
    times = [e[0] for e in sample]
    assert times == sorted(times)
    assert times[0] >= START
    first = json.loads(sample[0][2])["timestamp"]
    assert first.startswith("2025-01-06T00:")


def test_order_lines_share_order_session_and_time_and_revenue_is_exact(
    parsed: list[dict[str, Any]], sample: list[Event]
) -> None:
    orders: dict[str, list[dict[str, Any]]] = defaultdict(list)
    carts: dict[str, dict[str, int]] = defaultdict(dict)
    for e in parsed:
        if e["event_type"] == "add_to_cart":
            cart = carts[e["session_id"]]
            cart[e["product_id"]] = cart.get(e["product_id"], 0) + e["quantity"]
        elif e["event_type"] == "purchase":
            orders[e["order_id"]].append(e)
    assert orders, "the sample should hold some orders"
    for lines in orders.values():
        assert len({(x["session_id"], x["timestamp"]) for x in lines}) == 1
        assert len({x["product_id"] for x in lines}) == len(lines)
        for line in lines:  # a purchase line buys what the session put in its cart
            assert 1 <= line["quantity"] <= carts[line["session_id"]].get(line["product_id"], 0)
    cents = sum(round(e["price"] * 100) * e["quantity"] for e in parsed if e["order_id"])
    assert cents == sum(e[4] for e in sample)


def test_prices_are_stable_per_product_and_skewed() -> None:
    events = [json.loads(e[2]) for e in generate(20_000, seed=5) if e[1] & 3]
    price: dict[str, float] = {}
    for e in events:
        assert price.setdefault(e["product_id"], e["price"]) == e["price"]
    values = sorted(price.values())
    assert values[len(values) // 2] < sum(values) / len(values)  # lognormal: mean > median
