"""The recount's lateness, dedupe and aggregates (processor/recount/tally.py, aggregate.py) on
tiny partition sequences and a handful of events. No services, no Spark."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from processor.recount.aggregate import aggregate, hour_key
from processor.recount.rules import Event, Rules, check
from processor.recount.tally import Tally
from tests.processor.sample_events import T0, dumps, event

KAFKA_MS = int((T0 + timedelta(days=1)).timestamp() * 1000)  # every event is in the past
HOUR = timedelta(hours=1)
MIN = timedelta(minutes=1)
RULES = Rules()
P1, P2 = "00000000-0000-4000-8000-0000000000b1", "00000000-0000-4000-8000-0000000000b2"
S1, S2 = "00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"
U1, U2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


def eid(n: int) -> str:
    """A readable event id."""
    return f"00000000-0000-4000-8000-{n:012d}"


def tally_of(*partitions: list[dict[str, Any] | bytes], rules: Rules = RULES) -> Tally:
    """A tally fed partition by partition (offsets from 0)."""
    tally = Tally(rules)
    for p, messages in enumerate(partitions):
        for offset, m in enumerate(messages):
            tally.add(p, offset, KAFKA_MS, m if isinstance(m, bytes) else dumps(m).encode())
    return tally


def late_flags(tally: Tally) -> dict[str, bool]:
    """event_id -> is_late of the copy the tally keeps."""
    return {c.event.event_id: c.is_late for c in tally.copies()}


def test_lateness_follows_the_partition_watermark_in_offset_order() -> None:
    tally = tally_of(
        [
            event(t=T0, event_id=eid(1)),
            event(t=T0 + 2 * HOUR, event_id=eid(2)),  # watermark T0+2h
            event(t=T0 + 30 * MIN, event_id=eid(3)),  # before T0+1h: late
            event(t=T0 + 60 * MIN, event_id=eid(4)),  # exactly the bound: not late
            event(t=T0 + 59 * MIN, event_id=eid(5)),  # late
            b"not json",  # rejections move nothing
            event(t=T0 + 90 * MIN, event_id=eid(6)),
        ],
        [event(t=T0, event_id=eid(7))],  # another partition has its own watermark
    )
    assert late_flags(tally) == {
        eid(1): False, eid(2): False, eid(3): True, eid(4): False, eid(5): True,
        eid(6): False, eid(7): False,
    }  # fmt: skip
    assert tally.rejected == {(0, 5): "invalid_json"}
    assert tally.counts.messages == 8 and tally.counts.valid == 7


def test_duplicates_and_late_copies_move_the_watermark_too() -> None:
    tally = tally_of(
        [
            event(t=T0 + 3 * HOUR, event_id=eid(1)),
            event(t=T0 + 5 * HOUR, event_id=eid(1)),  # a copy (another time): watermark T0+5h
            event(t=T0 + 3 * HOUR + 30 * MIN, event_id=eid(2)),  # late against the copy
        ],
        rules=Rules(max_lateness_us=3_600_000_000),
    )
    assert late_flags(tally) == {eid(1): False, eid(2): True}
    assert tally.counts.duplicates == 1


def test_an_event_is_as_late_as_its_first_copy_and_ids_match_in_any_case() -> None:
    tally = tally_of(
        [
            event(t=T0 + 2 * HOUR, event_id=eid(1)),
            event(t=T0, event_id=eid(2).upper()),  # late
            event(t=T0 + 3 * HOUR, event_id=eid(9)),
            event(t=T0, event_id=eid(2)),  # the same event again, late as well
        ]
    )
    copies = {c.event.event_id: c for c in tally.copies()}
    assert set(copies) == {eid(1), eid(2), eid(9)}
    assert copies[eid(2)].is_late and copies[eid(2)].offset == 1
    assert tally.counts.duplicates == 1


def test_copies_in_several_partitions_follow_the_stored_partition() -> None:
    tally = tally_of(
        [event(t=T0 + 2 * HOUR, event_id=eid(1)), event(t=T0, event_id=eid(5))],  # late here
        [event(t=T0, event_id=eid(5))],  # not late here
    )
    assert tally.spread() == [eid(5)]
    assert late_flags(tally)[eid(5)] is True  # no preference: the lowest partition
    chosen = {c.event.event_id: c for c in tally.copies({eid(5): 1})}
    assert chosen[eid(5)].partition == 1 and not chosen[eid(5)].is_late
    assert {c.event.event_id: c.partition for c in tally.copies({eid(5): 7})}[eid(5)] == 0


def purchase(t: datetime, n: int, order: int, price: float, qty: int, **kw: Any) -> dict:
    """A purchase line of product P1 (unless `product_id` says otherwise)."""
    kw.setdefault("product_id", P1)
    return event("purchase", t, event_id=eid(n), price=price, quantity=qty,
                 order_id=eid(900 + order), **kw)  # fmt: skip


def test_aggregates_over_a_handful_of_events() -> None:
    t = T0 + 10 * MIN
    messages = [
        event("page_view", t, event_id=eid(3), product_id=P1, category="shoes"),
        event("page_view", t, event_id=eid(2), session_id=S2, user_id=U2, device_type="mobile"),
        event("add_to_cart", t + MIN, event_id=eid(4), product_id=P1, price=19.99, quantity=2,
              category="Shoes"),
        purchase(t + 2 * MIN, 5, order=1, price=19.99, qty=2),
        purchase(t + 2 * MIN, 6, order=1, price=0.01, qty=3, product_id=P2),
        purchase(t + 3 * MIN, 7, order=2, price=5, qty=1),
        # Same time as eid(3), smaller id: the session's first event, with its user and device.
        event("page_view", t, event_id=eid(1), user_id=U2, device_type="tablet"),
        event("page_view", t + HOUR, event_id=eid(8), session_id=S2, user_id=U2),
        event("page_view", t - 2 * HOUR, event_id=eid(9), session_id=S2),  # late: not counted
    ]  # fmt: skip
    tables = aggregate(tally_of(messages).copies())
    assert tables.events == 9 and tables.late == 1

    s1 = tables.user_sessions[S1]
    assert s1["user_id"] == U2 and s1["device_type"] == "tablet" and s1["first_event_id"] == eid(1)
    assert s1["session_start"] == t and s1["session_end"] == t + 3 * MIN
    assert s1["duration_seconds"] == 180.0
    assert (s1["events"], s1["page_views"], s1["add_to_carts"], s1["purchases"]) == (6, 2, 1, 3)
    assert s1["orders"] == 2 and s1["revenue"] == Decimal("45.01")
    assert s1["converted"] and not s1["cart_abandoned"] and not s1["is_bounce"]
    s2 = tables.user_sessions[S2]
    assert s2["events"] == 2 and s2["duration_seconds"] == 3600.0 and not s2["is_bounce"]
    assert s2["user_id"] == U2 and s2["device_type"] == "mobile" and s2["revenue"] == 0

    h14, h15 = hour_key(T0), hour_key(T0 + HOUR)
    assert set(tables.hourly_metrics) == {h14, h15}
    hour = tables.hourly_metrics[h14]
    assert hour["window_start"] == datetime(2025, 8, 19, 14, tzinfo=UTC)
    assert (hour["events"], hour["page_views"], hour["add_to_carts"], hour["purchases"]) == (
        7, 3, 1, 3,
    )  # fmt: skip
    assert hour["orders"] == 2 and hour["revenue"] == Decimal("45.01")
    assert hour["unique_users"] == 2 and hour["unique_sessions"] == 2
    assert hour["conversion_rate"] == 1.0
    assert hour["avg_order_value"] == Decimal("22.51")  # 22.505 rounds half up
    later = tables.hourly_metrics[h15]
    assert later["conversion_rate"] == 0.0 and later["avg_order_value"] is None

    p1 = tables.product_metrics[f"{h14} {P1}"]
    assert p1["category"] == "Shoes"  # the smallest in byte order ("S" < "s")
    assert (p1["views"], p1["add_to_carts"], p1["purchases"], p1["units_sold"]) == (1, 1, 2, 3)
    assert p1["revenue"] == Decimal("44.98")
    p2 = tables.product_metrics[f"{h14} {P2}"]
    assert p2["category"] is None and p2["units_sold"] == 3 and p2["revenue"] == Decimal("0.03")
    assert len(tables.product_metrics) == 2


def test_a_single_page_view_is_a_bounce_and_a_cart_without_order_is_abandoned() -> None:
    tables = aggregate(
        tally_of(
            [
                event("page_view", T0, event_id=eid(1)),
                event("add_to_cart", T0, event_id=eid(2), session_id=S2, product_id=P1,
                      price=1, quantity=1),
            ]
        ).copies()
    )  # fmt: skip
    assert tables.user_sessions[S1]["is_bounce"]
    bounce = tables.user_sessions[S2]
    assert bounce["cart_abandoned"] and not bounce["is_bounce"] and not bounce["converted"]


@settings(max_examples=60, deadline=None)
@given(
    minutes=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 300)), min_size=1, max_size=40),
    order=st.randoms(use_true_random=False),
)
def test_the_tally_does_not_depend_on_how_partitions_interleave(
    minutes: list[tuple[int, int]], order: Any
) -> None:
    messages = [
        (p, dumps(event(t=T0 + m * MIN, event_id=eid(i % 25), session_id=[S1, S2][i % 2])).encode())
        for i, (p, m) in enumerate(minutes)
    ]
    by_partition = [[v for p, v in messages if p == q] for q in (0, 1)]

    def fed(sequence: list[int]) -> Tally:
        tally, next_offset = Tally(RULES), [0, 0]
        for p in sequence:
            tally.add(p, next_offset[p], KAFKA_MS, by_partition[p][next_offset[p]])
            next_offset[p] += 1
        return tally

    in_turn = [0] * len(by_partition[0]) + [1] * len(by_partition[1])
    shuffled = list(in_turn)
    order.shuffle(shuffled)  # another interleaving; each partition keeps its own order
    a, b = fed(in_turn), fed(shuffled)
    ids = {e: min(c.partition for c in a.copies() if c.event.event_id == e) for e in a.spread()}
    assert sorted(a.copies(ids)) == sorted(b.copies(ids))
    assert aggregate(a.copies(ids)) == aggregate(b.copies(ids))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_any_message_at_all_becomes_an_event_or_a_reason(value: bytes) -> None:
    assert isinstance(check(value, KAFKA_MS * 1000, RULES), Event | str)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["event_id", "event_type", "timestamp", "price", "quantity", "page_url"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40)),
    )
)
def test_any_json_object_over_a_valid_event_is_an_event_or_a_reason(changes: dict) -> None:
    base = event("purchase", product_id=P1, price=1.5, quantity=1, order_id=eid(99))
    value = json.dumps({**base, **changes}, allow_nan=True).encode()
    assert isinstance(check(value, KAFKA_MS * 1000, RULES), Event | str)
