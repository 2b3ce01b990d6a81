"""The processor's Spark validation (processor/parse.py) against the contract: what the schema
accepts, parse accepts; what it rejects, parse rejects with one of the schema's reasons."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import contract
from contract.cases import CASES
from processor.parse import ParseRules, checked_rows
from tests.contract.strategies import dumps, events
from tests.contract.test_contract import VALID
from tests.processor.conftest import kafka_frame

pytestmark = pytest.mark.integration  # a Spark session

# The future bound needs the message's Kafka timestamp and is outside the schema: far away here
# (the Kafka timestamps are in 2025; 8,000 years on is past any 4-digit year).
RULES = ParseRules(max_future_seconds=8_000 * 366 * 86_400)


def verdicts(spark: Any, texts: list[str]) -> list[str | None]:
    """parse's reason for each message, in order."""
    rows = checked_rows(kafka_frame(spark, texts), RULES)
    got = dict(zip(rows["kafka_offset"].to_pylist(), rows["reason"].to_pylist(), strict=True))
    return [got[i] for i in range(len(texts))]


def test_each_case_of_the_shared_table_gets_its_reason_from_spark(spark: Any) -> None:
    texts = [dumps(case.apply(VALID)) for case in CASES] + [dumps(VALID)]
    got = verdicts(spark, texts)
    assert got[-1] is None
    assert {c.name: r for c, r in zip(CASES, got, strict=False)} == {
        c.name: c.reason for c in CASES
    }


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(events(), min_size=40, max_size=80))
def test_spark_agrees_with_the_schema_on_generated_events(spark: Any, batch: list[Any]) -> None:
    texts = [dumps(e) for e in batch]
    for text, verdict in zip(texts, verdicts(spark, texts), strict=True):
        found = contract.reasons(contract.loads(text))
        if not found:
            assert verdict is None, (text, verdict)
        else:
            assert verdict in found, (text, verdict, found)
