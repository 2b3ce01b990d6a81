"""`python -m processor.verify` as a user runs it: exit codes, differences and the hint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processor.verify import main
from tests.processor.harness import Harness
from tests.processor.scenario import scenario

pytestmark = pytest.mark.integration

# The scenario's totals: 8 events (4 views, 2 carts, 2 purchase lines), 3 sessions, 2 users,
# 1 order of 25.50, nothing malformed or duplicated.
LEDGER = {
    "events": {"total": 8, "page_view": 4, "add_to_cart": 2, "purchase": 2},
    "sessions": 3,
    "users": 2,
    "orders": 1,
    "revenue": "25.50",
    "faults": {"malformed": 0, "duplicates": 0},
}


def test_verify_exits_0_on_agreement_and_1_with_a_hint_when_events_are_missing(
    spark, pg_schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = Harness(spark, pg_schema)
    try:
        h.run(scenario())
    finally:
        h.close()
    ledger = tmp_path / "ledger.json"
    ledger.write_text(json.dumps(LEDGER))
    assert main(["--schema", pg_schema, "--ledger", str(ledger)]) == 0
    assert "0 differences" in capsys.readouterr().out

    sent_more = {**LEDGER, "events": {**LEDGER["events"], "total": 10, "page_view": 6}}
    ledger.write_text(json.dumps(sent_more))
    assert main(["--schema", pg_schema, "--ledger", str(ledger)]) == 1
    out = capsys.readouterr().out
    assert "ledger [page_view]: producer sent 6, database holds 4" in out
    assert "2 differences" in out and "--available-now" in out

    ledger.write_text(json.dumps({**LEDGER, "revenue": "30.00"}))  # all events there
    assert main(["--schema", pg_schema, "--ledger", str(ledger)]) == 1
    out = capsys.readouterr().out
    assert "ledger [revenue]" in out and "--available-now" not in out

    ledger.write_text("[]")
    assert main(["--schema", pg_schema, "--ledger", str(ledger)]) == 2
