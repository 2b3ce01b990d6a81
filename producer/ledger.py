"""The ledger: what a run sent and what the sink confirmed, written as one JSON file.

Counts come from the codes tagged on each message (no parsing), so they are exact: valid
unique events by type, sessions, users, orders, revenue in cents, and every injected fault.
A downstream verifier compares these with what it stored.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from producer.behavior import Event
from producer.models import (
    DUPLICATE,
    EVENT_TYPES,
    LATE,
    MALFORMED,
    MALFORMED_KINDS,
    ORDER_FIRST,
    SESSION_FIRST,
    TYPE_MASK,
    USER_FIRST,
)

_code = itemgetter(1)
_cents = itemgetter(4)


@dataclass
class Tally:
    """Running counts of sent messages by code, plus revenue of valid purchase lines."""

    codes: Counter[int] = field(default_factory=Counter)
    revenue_cents: int = 0
    messages: int = 0

    def add(self, batch: list[Event]) -> None:
        """Count a batch of messages handed to the sink."""
        self.codes.update(map(_code, batch))  # Counter's C loop: cheap per message
        self.revenue_cents += sum(map(_cents, batch))
        self.messages += len(batch)

    def summary(self) -> dict[str, Any]:
        """Counts by meaning: events by type, sessions, orders, revenue and faults."""
        by_type = dict.fromkeys(EVENT_TYPES, 0)
        sessions = users = orders = late = 0
        duplicates = dict.fromkeys(EVENT_TYPES, 0)
        malformed = dict.fromkeys(MALFORMED_KINDS, 0)
        for code, count in self.codes.items():
            if code & MALFORMED:
                malformed[MALFORMED_KINDS[code & ~MALFORMED]] += count
            elif code & DUPLICATE:
                duplicates[EVENT_TYPES[code & TYPE_MASK]] += count
            else:
                by_type[EVENT_TYPES[code & TYPE_MASK]] += count
                sessions += count if code & SESSION_FIRST else 0
                users += count if code & USER_FIRST else 0
                orders += count if code & ORDER_FIRST else 0
                late += count if code & LATE else 0
        valid = sum(by_type.values())
        return {
            "events": {**by_type, "total": valid},
            "sessions": sessions,
            "users": users,
            "orders": orders,
            "revenue": f"{self.revenue_cents // 100}.{self.revenue_cents % 100:02d}",
            "revenue_cents": self.revenue_cents,
            "faults": {
                "duplicates": sum(duplicates.values()),
                "duplicates_by_type": duplicates,
                "late": late,
                "malformed": sum(malformed.values()),
                "malformed_by_kind": malformed,
            },
            "messages_sent": self.messages,
        }


def write_ledger(path: Path, record: dict[str, Any]) -> Path:
    """Write the ledger atomically (temp file, then rename) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
