"""Every event the producer writes, in each mode and with every fault, against the contract."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

import contract
from producer.producer import main

MODES = {
    "backfill": ["--mode", "backfill", "--start", "2025-05-05", "--days", "0.5"],
    # The warm-up is sent at full speed, so a realtime run of a few thousand events is quick.
    "realtime": ["--mode", "realtime", "--warm-up", "2h", "--warm-up-mode", "send"],
}


@pytest.mark.parametrize("mode", MODES)
def test_every_event_of_every_mode_is_valid_and_every_malformed_one_is_not(
    mode: str, tmp_path: Path
) -> None:
    out, ledger = tmp_path / "events.jsonl", tmp_path / "ledger.json"
    argv = [*MODES[mode], "--events", "6000", "--seed", "5", "--progress", "0"]
    argv += ["--output", f"jsonl:{out}", "--ledger", str(ledger)]
    assert main([*argv, "--malformed", "0.05", "--duplicates", "0.02", "--late", "0.02"]) == 0
    record = json.loads(ledger.read_text())
    # The plain library on the plain file, numbers as decimals (the schema says why).
    plain = Draft202012Validator(contract.schema(), format_checker=FormatChecker())
    by_type: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    for line in out.read_text().splitlines():
        try:
            event = contract.loads(line)
        except ValueError:
            by_kind["invalid_json"] += 1
            continue
        reason = contract.first_reason(event)
        if reason is None:
            assert plain.is_valid(event), line
            by_type[event["event_type"]] += 1
        else:
            by_kind[reason.partition(":")[0]] += 1
    assert dict(by_kind) == {k: n for k, n in record["faults"]["malformed_by_kind"].items() if n}
    assert sum(by_kind.values()) == record["faults"]["malformed"] > 0
    duplicates = record["faults"]["duplicates"]
    assert sum(by_type.values()) == record["events"]["total"] + duplicates
    # A realtime run of a few thousand events spans seconds of its warm-up: no session has
    # reached checkout yet. The backfill's half day has every type.
    wanted = contract.EVENT_TYPES if mode == "backfill" else ("page_view",)
    assert set(wanted) <= set(by_type) <= set(contract.EVENT_TYPES)
