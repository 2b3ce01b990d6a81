"""Deliberate faults for testing pipelines: duplicates, late events and malformed messages.

In: time-ordered windows of valid events. Out: the messages to send, in send order, each tagged
with a code so the ledger counts every injected fault exactly. Faults draw from their own
seeded generator, so switching them on never changes the valid events themselves.
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Iterable

from contract.cases import of_kind
from producer.behavior import AT, CENTS, CODE, KEY, TEXT, Event
from producer.config import FaultSettings
from producer.firsts import FirstFlags, Held
from producer.ids import IdSpace
from producer.models import (
    DUPLICATE,
    LATE,
    MALFORMED,
    MALFORMED_KINDS,
    PURCHASE,
    SESSION_FIRST,
    TYPE_MASK,
)


class FaultInjector:
    """Turns the valid stream into the sent stream; `drain` releases what it still holds."""

    def __init__(self, settings: FaultSettings, seed: int) -> None:
        self._s = settings
        self._rng = random.Random(f"{seed}:faults")
        self._ids = IdSpace(self._rng)  # malformed copies get ids no valid event has
        # (release_ms, order, message, first-flags it still holds or None)
        self._held: list[tuple[int, int, Event, Held | None]] = []
        self._order = 0
        self._firsts = FirstFlags()

    @property
    def holding(self) -> int:
        """Messages held back (late events and pending duplicates)."""
        return len(self._held)

    def _hold(self, release_ms: int, message: Event, firsts: Held | None) -> None:
        self._order += 1
        heapq.heappush(self._held, (release_ms, self._order, message, firsts))

    def apply(self, batch: Iterable[Event]) -> list[Event]:
        """Messages to send for these valid events, releasing held ones when their time comes.

        The output depends only on the sequence of events, not on how it is cut into batches,
        so the run loop can pass events in just before it sends them. A duplicate is never
        released before its original, and first-flags stay on the first message out (see
        producer.firsts), so every prefix of the output counts exactly.
        """
        s, rand, held = self._s, self._rng.random, self._held
        late_ms = max(1, int(s.max_lateness_s * 1000))
        min_late_ms = min(1000, late_ms)
        dup_ms = max(1, int(s.duplicate_delay_s * 1000))
        firsts = self._firsts
        f_out, f_sessions, f_users, f_orders = firsts.out, *firsts.pending()
        out: list[Event] = []
        for event in batch:
            t = event[AT]
            while held and held[0][AT] <= t:
                _, _, m, own = heapq.heappop(held)
                # Only while first-flags are held can a message take one (cheap test first).
                if own is not None or (
                    (f_sessions or f_users or f_orders)
                    and (
                        m[KEY] in f_sessions
                        or (f_users and m[CODE] & SESSION_FIRST)
                        or (f_orders and m[CODE] & TYPE_MASK == PURCHASE)
                    )
                ):
                    m = f_out(m, own)
                out.append(m)
            if s.late and rand() < s.late:
                release = t + min_late_ms + int(rand() * (late_ms - min_late_ms))
                late = (t, event[CODE] | LATE, event[TEXT], event[KEY], event[CENTS])
                self._hold(release, late, firsts.hold(late))
            else:
                release = t
                if (f_sessions or f_users or f_orders) and (
                    event[KEY] in f_sessions
                    or (f_users and event[CODE] & SESSION_FIRST)
                    or (f_orders and event[CODE] & TYPE_MASK == PURCHASE)
                ):
                    event = f_out(event, None)
                out.append(event)
            if s.duplicates and rand() < s.duplicates:
                copy = (t, DUPLICATE | (event[CODE] & TYPE_MASK), event[TEXT], event[KEY], 0)
                self._hold(max(release, t + int(rand() * dup_ms)), copy, None)
            if s.malformed and rand() < s.malformed:
                out.append(self.malformed(event))
        return out

    def drain(self) -> list[Event]:
        """Everything still held, in release order (call at the end of a run)."""
        out = [self._firsts.out(m, own) for _, _, m, own in sorted(self._held)]
        self._held.clear()
        return out

    def malformed(self, event: Event) -> Event:
        """A broken copy of `event` under a fresh event_id: one of the four malformed kinds."""
        rng = self._rng
        kind = rng.randrange(len(MALFORMED_KINDS))
        data = json.loads(event[TEXT])
        data["event_id"] = self._ids.next()
        name = MALFORMED_KINDS[kind]
        if name == "invalid_json":
            text = json.dumps(data, separators=(",", ":"))
            text = text[: rng.randrange(10, len(text) - 1)]  # cut short: never parses
        else:
            # One case of the shared table (contract/cases.py) that applies to this event.
            cases = [c for c in of_kind(name) if c.needs is None or data.get(c.needs) is not None]
            data = rng.choice(cases).apply(data)
            text = json.dumps(data, separators=(",", ":"))
        return (event[AT], MALFORMED | kind, text, event[KEY], 0)
