"""Recount JSON-lines output from its content, the way a consumer would, to compare with a ledger.

Valid events are those the schema accepts; a repeated event_id is a duplicate; anything else
(not JSON, or refused) is malformed. Late is not visible in the content, so it is looked up in
a replay of the same seeded stream (`late_texts`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from contract import first_reason
from producer.clock import parse_instant
from producer.config import BehaviorSettings, FaultSettings, TrafficSettings
from producer.data_generator import Simulator
from producer.faults import FaultInjector
from producer.models import DUPLICATE, EVENT_TYPES, LATE, MALFORMED


def recount(lines: list[str], late_texts: set[str] | None = None) -> dict[str, Any]:
    """The ledger's figures, counted from the lines themselves."""
    by_type = dict.fromkeys(EVENT_TYPES, 0)
    sessions: set[str] = set()
    users: set[str] = set()
    orders: set[str] = set()
    ids: set[str] = set()
    revenue = Decimal("0.00")
    duplicates = malformed = late = 0
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            malformed += 1
            continue
        if first_reason(event) is not None:
            malformed += 1
            continue
        if event["event_id"] in ids:
            duplicates += 1
            continue
        ids.add(event["event_id"])
        by_type[event["event_type"]] += 1
        sessions.add(event["session_id"])
        users.add(event["user_id"])
        late += 1 if late_texts is not None and line in late_texts else 0
        if event["event_type"] == "purchase":
            orders.add(event["order_id"])
            revenue += Decimal(str(event["price"])) * event["quantity"]
    return {
        "events": {**by_type, "total": sum(by_type.values())},
        "sessions": len(sessions),
        "users": len(users),
        "orders": len(orders),
        "revenue": str(revenue.quantize(Decimal("0.01"))),
        "duplicates": duplicates,
        "malformed": malformed,
        "late": late if late_texts is not None else None,
        "messages": len(lines),
    }


def valid_lines(lines: list[str]) -> set[str]:
    """The lines that are valid events."""
    out = set()
    for line in lines:
        try:
            if first_reason(json.loads(line)) is None:
                out.add(line)
        except json.JSONDecodeError:
            continue
    return out


def from_ledger(ledger: dict[str, Any], with_late: bool = True) -> dict[str, Any]:
    """The same figures, as the ledger states them."""
    return {
        "events": ledger["events"],
        "sessions": ledger["sessions"],
        "users": ledger["users"],
        "orders": ledger["orders"],
        "revenue": ledger["revenue"],
        "duplicates": ledger["faults"]["duplicates"],
        "malformed": ledger["faults"]["malformed"],
        "late": ledger["faults"]["late"] if with_late else None,
        "messages": ledger["messages_sent"],
    }


def late_texts(
    seed: int, start: str, rate: float, faults: FaultSettings, wanted: set[str]
) -> set[str]:
    """Texts of the late events of a backfill stream, replayed until every `wanted` text is seen."""
    sim = Simulator(BehaviorSettings(), TrafficSettings(rate=rate), seed, parse_instant(start))
    injector = FaultInjector(faults, seed)
    late: set[str] = set()
    missing = set(wanted)
    if not missing:
        return late
    for window in sim.windows():
        for message in injector.apply(window):
            if not message[1] & (DUPLICATE | MALFORMED):
                missing.discard(message[2])
                if message[1] & LATE:
                    late.add(message[2])
        if not missing:
            return late
    raise AssertionError(f"{len(missing)} lines are not in the replayed stream")
