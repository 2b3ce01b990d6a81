"""A producer ledger (JSON, see producer/ledger.py) against raw_events and rejected_events.

Nothing lost, nothing doubled: the unique events the producer delivered, by type, and their
sessions, orders and revenue must equal what raw_events holds, and the messages it malformed on
purpose must equal the rejected rows, and its injected duplicates the duplicates the
processor counted (pipeline_batches).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from processor.sql import load_sql


class LedgerError(ValueError):
    """The ledger file is missing or not a producer ledger."""


def _get(data: dict[str, Any], *path: str) -> Any:
    node: Any = data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def expectations(data: dict[str, Any]) -> dict[str, Decimal]:
    """The ledger's figures under the names of db/ledger/stored_totals.sql.

    Producer "late" events are out of order by at most its own bound; whether they are beyond
    PROCESSOR_MAX_LATENESS depends on arrival, so they are not compared.
    """
    events, faults = data.get("events"), data.get("faults")
    if not isinstance(events, dict) or not isinstance(faults, dict):
        raise LedgerError("not a producer ledger: it has no 'events' and 'faults' sections")
    wanted: dict[str, Any] = {
        "events": events.get("total"),
        "page_view": events.get("page_view"),
        "add_to_cart": events.get("add_to_cart"),
        "purchase": events.get("purchase"),
        "sessions": data.get("sessions"),
        "users": data.get("users"),
        "orders": data.get("orders"),
        "revenue": data.get("revenue"),
        "rejected": faults.get("malformed"),
        "duplicates": faults.get("duplicates"),
    }
    return {k: Decimal(str(v)) for k, v in wanted.items() if v is not None}


def load_ledger(path: Path) -> dict[str, Any]:
    """Read a ledger JSON file, or raise LedgerError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LedgerError(f"cannot read the producer ledger {path}: {exc}") from None
    if not isinstance(data, dict):
        raise LedgerError(f"{path} is not a producer ledger (expected a JSON object)")
    return data


def combined(ledgers: Sequence[tuple[Path, dict[str, Any]]]) -> tuple[dict[str, Decimal], int]:
    """The figures of several producers into one topic (the shards of a run, or other runs),
    added up, since their users, sessions and orders are disjoint; and their undelivered
    messages. Two ledgers of one seed and shard are refused: such runs make the same event_ids,
    which count once."""
    seen: dict[tuple[Any, ...], Path] = {}
    total: dict[str, Decimal] = {}
    undelivered = 0
    for path, data in ledgers:
        run: dict[str, Any] = data["run"] if isinstance(data.get("run"), dict) else {}
        key = (run.get("seed"), run.get("shard", "1/1"))
        if key in seen:
            raise LedgerError(
                f"{path} and {seen[key]} are ledgers of seed {key[0]}, shard {key[1]}: such "
                "runs make the same event_ids; give each shard's ledger once"
            )
        seen[key] = path
        for name, value in expectations(data).items():
            total[name] = total.get(name, Decimal(0)) + value
        undelivered += (data.get("delivery") or {}).get("undelivered", 0)
    return total, undelivered


# The ledger's figures that are distinct counts over raw_events (stored_totals.sql).
DISTINCT_FIGURES = ("sessions", "users", "orders")


def ledger_differences(
    conn: psycopg.Connection[Any], paths: Path | Sequence[Path]
) -> list[tuple[str, str]]:
    """(figure, detail) for each figure of the ledger (of the ledgers, added up) that the
    database disagrees with."""
    paths = [paths] if isinstance(paths, Path) else list(paths)
    expected, undelivered = combined([(path, load_ledger(path)) for path in paths])
    cur = conn.execute(load_sql("ledger", "stored_totals"))
    row = cur.fetchone()
    names = [c.name for c in cur.description or []]
    stored = dict(zip(names, row or (), strict=True))
    # Once retention dropped raw events, their distinct sessions, users and orders are not
    # countable any more; the sums (events, types, revenue, late, rejected) still are.
    uncountable = DISTINCT_FIGURES if stored.get("dropped") else ()
    differences = [
        (name, f"producer sent {value}, database holds {stored.get(name)}")
        for name, value in expected.items()
        if name not in uncountable and Decimal(str(stored.get(name))) != value
    ]
    if undelivered:
        differences.append(("delivery", f"the producer reports {undelivered} undelivered messages"))
    return differences
