"""The event contract (contract/event.schema.json) against the processor's rules, the producer's
events and the docs. No services: the Spark side is in test_contract_spark.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator

import contract
from contract.cases import CASES, Case, ids
from contract.docs import DOCS, render_table, stale
from processor.recount.rules import Event, Rules, check, event_time_us
from tests.contract.strategies import dumps, events

KAFKA_US = event_time_us("2101-01-01T00:00:00Z") or 0
# The future bound needs the message's Kafka timestamp and is outside the schema: far away here.
RULES = Rules(max_future_us=10**18)


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(contract.schema())
    assert contract.schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_what_the_schema_accepts_the_recount_accepts_and_the_reasons_agree(
    event: dict[str, Any],
) -> None:
    text = dumps(event)
    found = contract.reasons(contract.loads(text))
    verdict = check(text.encode(), KAFKA_US, RULES)
    if not found:
        assert isinstance(verdict, Event), (text, verdict)
    else:
        assert verdict in found, (text, verdict, found)


# (payload, reason): one broken rule each, in the vocabulary of rejected_events.reason.
VALID = {
    "event_id": "00000000-0000-4000-8000-000000000001",
    "event_type": "purchase",
    "timestamp": "2025-08-19T14:05:22.123Z",
    "user_id": "00000000-0000-4000-8000-000000000002",
    "session_id": "00000000-0000-4000-8000-000000000003",
    "product_id": "00000000-0000-4000-8000-000000000004",
    "page_url": "/checkout/complete",
    "price": 19.99,
    "quantity": 2,
    "order_id": "00000000-0000-4000-8000-000000000005",
    "ip_address": "203.0.113.7",
    "device_type": "mobile",
}


EDGES: list[dict[str, Any]] = [
    {},
    {"price": 0},
    {"price": 1_000_000},
    {"quantity": 10_000},
    {"timestamp": "2000-01-01T00:00:00Z"},
    {"timestamp": "1999-12-31T23:30:00-01:00"},  # 00:30 UTC
    {"timestamp": "2025-08-19T14:05:22.123456789+05:30"},
    {"ip_address": "::1"},
    {"page_url": "\u00a0"},  # not JSON white space
    {"extra": {"any": [1, 2]}},
]


def test_a_valid_purchase_and_its_edges_are_valid() -> None:
    for changes in EDGES:
        text = dumps({**VALID, **changes})
        assert contract.reasons(contract.loads(text)) == [], changes
        assert isinstance(check(text.encode(), KAFKA_US, RULES), Event), changes


@pytest.mark.parametrize("case", CASES, ids=ids())
def test_each_case_gets_its_reason_from_the_schema_and_the_recount(case: Case) -> None:
    text = dumps(case.apply(VALID))
    assert contract.first_reason(contract.loads(text)) == case.reason
    assert contract.reasons(contract.loads(text)) == [case.reason]
    assert check(text.encode(), KAFKA_US, RULES) == case.reason


def test_numbers_are_read_as_exact_decimals_and_constants_are_not_json() -> None:
    assert contract.loads('{"price": 19.99}')["price"] == Decimal("19.99")
    for text in ('{"price": NaN}', '{"price": Infinity}', "{"):
        with pytest.raises(ValueError):
            contract.loads(text)


def test_the_event_table_in_the_docs_is_generated_from_the_schema() -> None:
    assert not stale(), f"{DOCS} is stale: run `python -m contract docs --write`"
    table = render_table()
    for name in contract.FIELDS:
        assert f"| `{name}` |" in table
    assert all(t in table for t in contract.EVENT_TYPES + contract.DEVICE_TYPES)
    assert all(f"`{case.reason}`" in table for case in CASES if case.reason != "nul_character")
