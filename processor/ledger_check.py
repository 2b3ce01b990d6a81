"""A producer ledger (JSON, see producer/ledger.py) against raw_events and rejected_events.

Nothing lost, nothing doubled: the unique events the producer delivered, by type, and their
sessions, orders and revenue must equal what raw_events holds, and the messages it malformed on
purpose must equal the rejected rows.
"""

from __future__ import annotations

import json
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
    """The ledger's figures under the names of db/ledger/stored_totals.sql."""
    by_type = _get(data, "events_by_type") or {}
    wanted: dict[str, Any] = {
        "page_view": by_type.get("page_view"),
        "add_to_cart": by_type.get("add_to_cart"),
        "purchase": by_type.get("purchase"),
        "sessions": _get(data, "sessions"),
        "orders": _get(data, "orders"),
        "revenue": _get(data, "revenue"),
        "rejected": _get(data, "injected", "malformed"),
    }
    if by_type:
        wanted["events"] = sum(int(v) for v in by_type.values())
    found = {k: Decimal(str(v)) for k, v in wanted.items() if v is not None}
    if not found:
        raise LedgerError("the file holds no producer ledger figures (events_by_type, sessions)")
    return found


def load_ledger(path: Path) -> dict[str, Any]:
    """Read a ledger JSON file, or raise LedgerError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LedgerError(f"cannot read the producer ledger {path}: {exc}") from None
    if not isinstance(data, dict):
        raise LedgerError(f"{path} is not a producer ledger (expected a JSON object)")
    return data


def ledger_differences(conn: psycopg.Connection[Any], path: Path) -> list[tuple[str, str]]:
    """(figure, detail) for each ledger figure the database disagrees with."""
    expected = expectations(load_ledger(path))
    cur = conn.execute(load_sql("ledger", "stored_totals"))
    row = cur.fetchone()
    names = [c.name for c in cur.description or []]
    stored = dict(zip(names, row or (), strict=True))
    return [
        (name, f"producer delivered {value}, database holds {stored.get(name)}")
        for name, value in expected.items()
        if Decimal(str(stored.get(name))) != value
    ]
