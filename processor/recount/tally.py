"""Messages in, each partition's in offset order; out: the rejection of every Kafka position that
is not a valid event, and the first valid copy of every event_id with its lateness.

Lateness depends only on the topic: a valid message is late when its event time is more than
the bound before the watermark, the newest event time of the valid messages before it in its
partition (duplicates and late ones included). Within a partition the first copy of an event_id
is the stored one; which partition's copy is stored is up to the processor, so `copies` lets
the stored rows say which partition to take (`stored_partition`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from processor.recount.rules import Event, Rules, check


class Copy(NamedTuple):
    """The first valid copy of an event in one partition, and whether it is late."""

    event: Event
    partition: int
    offset: int
    is_late: bool


@dataclass
class Counts:
    """What the tally has seen."""

    messages: int = 0
    rejected: int = 0
    valid: int = 0  # valid messages, duplicate copies included
    duplicates: int = 0  # valid messages whose event_id came before (in any partition)


class Tally:
    """Feed it messages with `add`; read `rejected` and `copies()` at the end."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.counts = Counts()
        self.rejected: dict[tuple[int, int], str] = {}  # (partition, offset) -> reason
        self._first: dict[str, Copy] = {}  # event_id -> the first copy added
        self._elsewhere: dict[str, dict[int, Copy]] = {}  # first copies in other partitions
        self._watermark: dict[int, int] = {}  # partition -> newest valid event time (µs)

    def add(
        self, partition: int, offset: int, kafka_timestamp_ms: int, value: bytes | None
    ) -> None:
        """Check one message; a partition's messages must come in offset order."""
        counts = self.counts
        counts.messages += 1
        result = check(value, kafka_timestamp_ms * 1000, self.rules)
        if isinstance(result, str):
            counts.rejected += 1
            self.rejected[partition, offset] = result
            return
        counts.valid += 1
        t = result.time_us
        watermark = self._watermark.get(partition)
        if watermark is None or t > watermark:
            self._watermark[partition] = t
            late = False
        else:
            late = t < watermark - self.rules.max_lateness_us
        first = self._first.get(result.event_id)
        if first is None:
            self._first[result.event_id] = Copy(result, partition, offset, late)
            return
        counts.duplicates += 1
        if first.partition != partition:
            others = self._elsewhere.setdefault(result.event_id, {})
            if partition not in others:
                others[partition] = Copy(result, partition, offset, late)

    def copies(self, stored_partition: Mapping[str, int] | None = None) -> list[Copy]:
        """One copy per event_id: the first in the partition `stored_partition` names for it
        (the processor's choice), else the first in the lowest partition that has one."""
        chosen = dict(self._first)
        stored = stored_partition or {}
        for event_id, others in self._elsewhere.items():
            candidates = {**others, chosen[event_id].partition: chosen[event_id]}
            partition = stored.get(event_id)
            if partition not in candidates:
                partition = min(candidates)
            chosen[event_id] = candidates[partition]
        return list(chosen.values())

    def spread(self) -> list[str]:
        """The event_ids with valid copies in more than one partition."""
        return list(self._elsewhere)
