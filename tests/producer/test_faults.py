"""Injected faults are exactly what the ledger says: duplicates, late events, malformed messages."""

from __future__ import annotations

import itertools
import json
from collections import Counter

from contract import first_reason
from producer.behavior import Event
from producer.config import FaultSettings
from producer.faults import FaultInjector
from producer.ledger import Tally
from producer.models import (
    DUPLICATE,
    LATE,
    MALFORMED,
    MALFORMED_KINDS,
    ORDER_FIRST,
    SESSION_FIRST,
    USER_FIRST,
)


def inject(sample: list[Event], **probabilities: float) -> tuple[list[Event], dict]:
    injector = FaultInjector(FaultSettings(max_lateness_s=120, **probabilities), seed=21)
    sent: list[Event] = []
    for i in range(0, len(sample), 4000):  # window by window, as the run loop does
        sent += injector.apply(sample[i : i + 4000])
    sent += injector.drain()
    tally = Tally()
    tally.add(sent)
    return sent, tally.summary()


def test_no_faults_means_the_stream_passes_untouched(sample: list[Event]) -> None:
    sent, summary = inject(sample)
    assert sent == sample
    assert summary["faults"]["duplicates"] == summary["faults"]["late"] == 0
    assert summary["faults"]["malformed"] == 0


def test_every_fault_is_counted_exactly(sample: list[Event]) -> None:
    sent, summary = inject(sample, duplicates=0.03, late=0.04, malformed=0.02)
    faults = summary["faults"]
    parsed = []
    reasons: Counter[str] = Counter()
    for e in sent:
        try:
            event = json.loads(e[2])
        except json.JSONDecodeError:
            reasons["invalid_json"] += 1
            continue
        reason = first_reason(event)
        if reason:
            reasons[reason.split(":")[0]] += 1
        else:
            parsed.append(event)
    ids = Counter(x["event_id"] for x in parsed)
    # Every valid event arrives; duplicates are exact copies, counted once each.
    assert len(ids) == len(sample) == summary["events"]["total"]
    assert sum(ids.values()) - len(ids) == faults["duplicates"] > 0
    by_kind = faults["malformed_by_kind"]
    assert sum(reasons.values()) == faults["malformed"] == sum(by_kind.values()) > 0
    assert reasons["invalid_json"] == by_kind["invalid_json"]
    assert reasons["missing_field"] == by_kind["missing_field"]
    assert reasons["bad_type"] == by_kind["bad_type"]
    assert reasons["unknown_event_type"] == by_kind["unknown_event_type"]
    assert all(by_kind[k] > 0 for k in MALFORMED_KINDS)
    assert len(sent) == summary["messages_sent"]
    assert len(sent) == len(sample) + faults["duplicates"] + faults["malformed"]


def test_late_events_arrive_after_later_ones_within_the_bound(sample: list[Event]) -> None:
    sent, summary = inject(sample, late=0.05)
    late = [e for e in sent if e[1] & LATE]
    assert len(late) == summary["faults"]["late"] > 0
    newest = 0  # newest event time sent so far, among on-time events
    last_on_time = max(i for i, e in enumerate(sent) if not e[1] & LATE)
    for i, e in enumerate(sent):
        if not e[1] & LATE:
            newest = max(newest, e[0])
            continue
        assert newest > e[0]  # overtaken by later events
        if i < last_on_time:  # released by the stream, not by the end-of-run drain
            assert newest - e[0] <= 120_000 + 10_000
    assert sorted(e[2] for e in sent) == sorted(e[2] for e in sample)


def test_malformed_messages_never_reuse_a_valid_event_id(sample: list[Event]) -> None:
    sent, _ = inject(sample, malformed=0.05)
    valid_ids = {json.loads(e[2])["event_id"] for e in sample}
    for e in sent:
        if e[1] & 128 and e[2].endswith("}"):
            event = json.loads(e[2])
            assert event.get("event_id") not in valid_ids


def test_every_prefix_of_the_sent_stream_counts_exactly(sample: list[Event]) -> None:
    """The flag that counts a session, user or order is on the first of its messages sent,
    even when that event was held back as late; and a duplicate never precedes its original.
    So a run cut anywhere (a closed pipe, a stop, Kafka confirming part of a partition)
    counts what got out exactly."""
    sent, _ = inject(sample, duplicates=0.1, late=0.3, malformed=0.02)
    seen: dict[str, set[str]] = {"session_id": set(), "user_id": set(), "order_id": set()}
    flags = {"session_id": SESSION_FIRST, "user_id": USER_FIRST, "order_id": ORDER_FIRST}
    ids: set[str] = set()
    for e in sent:
        if e[1] & MALFORMED:
            continue
        event = json.loads(e[2])
        if e[1] & DUPLICATE:
            assert event["event_id"] in ids  # its original went out before it
            continue
        ids.add(event["event_id"])
        for key, flag in flags.items():
            if event[key] is None:
                assert not e[1] & flag
                continue
            assert bool(e[1] & flag) == (event[key] not in seen[key]), (key, event)
            seen[key].add(event[key])
    generated_firsts = {e[2] for e in sample if e[1] & SESSION_FIRST}
    moved = [e for e in sent if e[1] & SESSION_FIRST and e[2] not in generated_firsts]
    assert moved  # some sessions' first events were late, and their flag moved on


def test_cutting_the_input_anywhere_gives_the_same_messages(sample: list[Event]) -> None:
    """The run loop hands events to the injector just before sending them, in any pieces."""
    whole, _ = inject(sample, duplicates=0.05, late=0.05, malformed=0.05)
    faults = FaultSettings(max_lateness_s=120, duplicates=0.05, late=0.05, malformed=0.05)
    injector = FaultInjector(faults, seed=21)
    sent: list[Event] = []
    i = 0
    for size in itertools.cycle((1, 7, 500, 3333)):
        if i >= len(sample):
            break
        sent += injector.apply(sample[i : i + size])
        i += size
    sent += injector.drain()
    assert sent == whole
