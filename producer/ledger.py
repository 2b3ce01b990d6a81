"""The ledger: what a run delivered, written as one JSON file.

Counts come from the codes tagged on each message (no parsing), so they are exact: valid
unique events by type, sessions, users, orders, revenue in cents, and every injected fault.
They count messages that got out (confirmed by Kafka, or written whole to the file or pipe):
handed over minus what the sink lost. Sessions, users and orders are counted by a flag on the
first message of each that goes out (see producer.firsts), so any prefix of the stream counts
exactly. A downstream verifier compares these with what it stored.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter
from pathlib import Path
from typing import Any

from infra.owner_only import write_private
from producer.behavior import CENTS, CODE, Event
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

_code = itemgetter(CODE)
_cents = itemgetter(CENTS)


@dataclass
class Tally:
    """Counts of messages by code, plus revenue of valid purchase lines.

    The run loop keeps one of what it handed to the sink; a sink keeps one of what it took but
    could not deliver (`lost`). The ledger is the difference: what got out.
    """

    codes: Counter[int] = field(default_factory=Counter)
    revenue_cents: int = 0
    # Revenue by code, for the scenarios' truth (revenue by variant, by window).
    cents: Counter[int] = field(default_factory=Counter)
    messages: int = 0
    # Users counted other than by their flagged message: a Kafka sink that lost a user's first
    # message but delivered a later session of that user counts -1 here (see kafka_sink).
    users_adjust: int = 0

    def add(self, batch: list[Event]) -> None:
        """Count a batch of messages."""
        self.codes.update(map(_code, batch))  # Counter's C loop: cheap per message
        self.revenue_cents += sum(map(_cents, batch))
        self.messages += len(batch)
        cents = self.cents
        for e in compress(batch, map(_cents, batch)):  # only purchase lines: a few in 200
            cents[e[CODE]] += e[CENTS]

    def add_one(self, code: int, cents: int) -> None:
        """Count one message by its code and revenue."""
        self.codes[code] += 1
        self.revenue_cents += cents
        self.messages += 1
        if cents:
            self.cents[code] += cents

    def minus(self, other: Tally) -> Tally:
        """What this tally counts and `other` does not (other must be a part of this one)."""
        codes = Counter(self.codes)
        codes.subtract(other.codes)
        cents = Counter(self.cents)
        cents.subtract(other.cents)
        return Tally(
            codes=+codes,
            revenue_cents=self.revenue_cents - other.revenue_cents,
            cents=+cents,
            messages=self.messages - other.messages,
            users_adjust=self.users_adjust - other.users_adjust,
        )

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
            "users": users + self.users_adjust,
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


class UserWitness:
    """Users whose counted (first) message is unconfirmed, and whether they got through anyway.

    The ledger counts a user by the flag on the user's first message. Kafka can lose that
    message yet deliver a later session of the same user (another partition): the user did
    get through. Only users whose first message is still unconfirmed are watched, so this
    stays as small as what is in flight.
    """

    def __init__(self) -> None:
        self._unconfirmed: set[str] = set()
        self._seen_again: set[str] = set()
        self._lost: set[str] = set()

    def first_sent(self, user: str) -> None:
        """The user's first message was handed to Kafka."""
        self._unconfirmed.add(user)

    def watches(self, user: str) -> bool:
        """True while the user's first message is unconfirmed (or was lost)."""
        return user in self._unconfirmed

    def first_delivered(self, user: str) -> None:
        """The user's first message was confirmed: the user is counted, nothing to watch."""
        self._unconfirmed.discard(user)
        self._seen_again.discard(user)

    def first_lost(self, user: str) -> None:
        """The user's first message will never be confirmed."""
        self._lost.add(user)

    def again_delivered(self, user: str) -> None:
        """A later session's first message of a watched user was confirmed."""
        self._seen_again.add(user)

    def __bool__(self) -> bool:
        return bool(self._unconfirmed)

    def restored(self) -> int:
        """Users whose first message was lost but who were delivered through another session."""
        return len(self._lost & self._seen_again)


def write_ledger(path: Path, record: dict[str, Any]) -> Path:
    """Write the ledger atomically (temp file, then rename), owner-only; return its path."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    write_private(tmp, json.dumps(record, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path
